using System.Net;
using GruService.Api.Inference;
using GruService.Engine;
using GruService.Engine.ModelFiles;
using Microsoft.Extensions.Options;
using static GruService.Api.Tests.Inference.BatchingTestData;

namespace GruService.Api.Tests.Inference;

/// <summary>Inference:MaxConcurrentPasses: requests beyond the limit wait for a pass slot and are all answered.</summary>
public class PassLimitTests
{
    [Theory]
    [InlineData("true")]
    [InlineData("false")]
    public async Task OnePassAtATime_AnswersEveryConcurrentRequestOfEveryModel_BitIdentical(string batching)
    {
        ReferenceModel reference = ReferenceModel.Load(28);
        GruModel model = ModelFile.Read(reference.File, new ModelLimits());
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?>
        {
            ["Inference:MaxConcurrentPasses"] = "1",
            ["Inference:Batching:Enabled"] = batching,
        });
        HttpClient client = await factory.ReadyClientAsync();
        string[] names = ["first", "second", "third"];
        foreach (string name in names)
            Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync(name, reference.File)).StatusCode);

        var random = new Random(7);
        float[][][][] requests = [.. Enumerable.Range(0, 48).Select(_ => RandomSequences(random, random.Next(1, 3), model.Config.InputSize, 30))];
        HttpResponseMessage[] responses = await Task.WhenAll(requests.Select((r, i) =>
            client.PostJsonAsync($"/v1/models/{names[i % names.Length]}/forecast", RequestJson(r))));

        await AssertAnsweredAsAloneAsync(model, requests, responses);

        // Every slot came back: with one slot, a leaked one would leave this request waiting until the timeout.
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        HttpResponseMessage last = await client.PostAsync("/v1/models/first/forecast",
            new StringContent(RequestJson(requests[0]), System.Text.Encoding.UTF8, "application/json"), timeout.Token);
        Assert.Equal(HttpStatusCode.OK, last.StatusCode);
    }

    [Fact]
    public void Startup_Fails_ForANegativePassLimit()
    {
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?> { ["Inference:MaxConcurrentPasses"] = "-1" });

        var failure = Assert.Throws<OptionsValidationException>(() => factory.CreateClient());

        Assert.Contains("MaxConcurrentPasses", failure.Message);
    }

    [Fact]
    public void Pass_UsesASecondCore_OnlyWhenNoOtherRequestIsInFlight()
    {
        var slots = new PassSlots(2, kernelThreads: 2);
        slots.Arrive();
        Assert.False(slots.OnOneCore(requests: 1));

        slots.Arrive();
        Assert.True(slots.OnOneCore(requests: 1));
        Assert.False(slots.OnOneCore(requests: 2)); // both requests are in this pass's batch

        slots.Leave();
        Assert.False(slots.OnOneCore(requests: 1));
    }

    [Fact]
    public void Pass_StaysOnOneCore_WithOneKernelThread()
    {
        var slots = new PassSlots(2, kernelThreads: 1);
        slots.Arrive();

        Assert.True(slots.OnOneCore(requests: 1));
    }
}
