using System.Net;
using System.Text.Json.Nodes;
using GruService.Engine;
using GruService.Engine.ModelFiles;
using Microsoft.Extensions.Options;
using static GruService.Api.Tests.Inference.BatchingTestData;

namespace GruService.Api.Tests.Inference;

/// <summary>Dynamic batching through the HTTP API: many concurrent requests, one forward pass per batch.</summary>
public class DynamicBatchingTests
{
    // A leader waits for its batch to fill, or this long: long enough that requests sent together meet in one batch
    // however the threads are scheduled, so the tests do not depend on timing.
    private const string LongDelay = "1000000";

    [Theory]
    [InlineData(28)] // forecast: 8 features, 2 bidirectional layers
    [InlineData(25)] // classify: 17 features, 2 bidirectional layers
    public async Task ForecastAndClassify_AnswersAreBitIdentical_BatchedOrAlone(int seed)
    {
        ReferenceModel reference = ReferenceModel.Load(seed);
        GruModel model = ModelFile.Read(reference.File, new ModelLimits());
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?>
        {
            ["Inference:Batching:MaxBatchSize"] = "16",
            ["Inference:Batching:MaxQueueDelayMicroseconds"] = "100000",
        });
        HttpClient client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("ragged", reference.File)).StatusCode);

        var random = new Random(seed);
        float[][][][] requests = [.. Enumerable.Range(0, 48).Select(_ => RandomSequences(random, random.Next(1, 4), model.Config.InputSize, 40))];
        HttpResponseMessage[] responses = await Task.WhenAll(requests.Select(r => client.PostJsonAsync($"/v1/models/ragged/{reference.Task}", RequestJson(r))));

        await AssertAnsweredAsAloneAsync(model, requests, responses);

        string metrics = await client.GetStringAsync("/metrics");
        double passes = Sample(metrics, "gruservice_inference_batch_size_count{model=\"ragged\"}") ?? 0;
        Assert.Equal(requests.Sum(r => r.Length), Sample(metrics, "gruservice_inference_batch_size_sum{model=\"ragged\"}"));
        Assert.True(passes < requests.Length, $"{requests.Length} requests took {passes} forward passes: none was batched");
        Assert.Equal(requests.Length, Sample(metrics, "gruservice_inference_queue_duration_seconds_count{model=\"ragged\"}"));
        Assert.Equal(0, Sample(metrics, "gruservice_inference_pending_requests{model=\"ragged\"}"));
    }

    [Fact]
    public async Task Batches_NeverMixModelVersions()
    {
        ReferenceModel reference = ReferenceModel.Load(28);
        GruModel a = ModelFile.Read(reference.File, new ModelLimits());
        var b = new GruModel(a.Config, a.Directions, a.HeadWeight, [.. a.HeadBias.Select(bias => bias + 0.5f)]);
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?>
        {
            ["Inference:Batching:MaxBatchSize"] = "1000",
            ["Inference:Batching:MaxQueueDelayMicroseconds"] = LongDelay,
        });
        HttpClient client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("swap", reference.File)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("swap", ModelFile.Write(b))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/models/swap/versions/1/activate", null)).StatusCode);

        float[][][] first = RandomSequences(new Random(1), 2, a.Config.InputSize, 20), second = RandomSequences(new Random(2), 2, a.Config.InputSize, 20);
        // The first request leads a batch of version 1 and waits for company; version 2 is activated meanwhile.
        Task<HttpResponseMessage> onVersion1 = client.PostJsonAsync("/v1/models/swap/forecast", RequestJson(first));
        await WaitForPendingAsync(client, "swap", 1);
        Assert.Equal(HttpStatusCode.OK, (await client.PostAsync("/v1/models/swap/versions/2/activate", null)).StatusCode);
        Task<HttpResponseMessage> onVersion2 = client.PostJsonAsync("/v1/models/swap/forecast", RequestJson(second));

        JsonObject answer1 = await (await onVersion1).JsonAsync(), answer2 = await (await onVersion2).JsonAsync();
        Assert.Equal(1, (int)answer1["version"]!);
        Assert.Equal(2, (int)answer2["version"]!);
        for (int s = 0; s < 2; s++)
        {
            Assert.Null(BitDifference(Alone(a, first[s]), Answers(answer1)[s]));
            Assert.Null(BitDifference(Alone(b, second[s]), Answers(answer2)[s]));
        }
        string metrics = await client.GetStringAsync("/metrics");
        Assert.Equal(2, Sample(metrics, "gruservice_inference_batch_size_count{model=\"swap\"}"));
    }

    [Fact]
    public async Task QueuedRequest_WhoseClientGoesAway_LeavesTheQueue_AndTheBatchAnswersTheRest()
    {
        ReferenceModel reference = ReferenceModel.Load(28);
        GruModel model = ModelFile.Read(reference.File, new ModelLimits());
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?>
        {
            ["Inference:Batching:MaxBatchSize"] = "1000",
            ["Inference:Batching:MaxQueueDelayMicroseconds"] = LongDelay,
        });
        HttpClient client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("busy", reference.File)).StatusCode);
        var random = new Random(3);
        float[][][] kept = RandomSequences(random, 3, model.Config.InputSize, 30), abandoned = RandomSequences(random, 5, model.Config.InputSize, 30);

        Task<HttpResponseMessage> leader = client.PostJsonAsync("/v1/models/busy/forecast", RequestJson(kept));
        await WaitForPendingAsync(client, "busy", 1);
        using var goingAway = new CancellationTokenSource();
        Task<HttpResponseMessage> follower = client.PostAsync("/v1/models/busy/forecast",
            new StringContent(RequestJson(abandoned), System.Text.Encoding.UTF8, "application/json"), goingAway.Token);
        await WaitForPendingAsync(client, "busy", 2);
        goingAway.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => follower);
        await WaitForPendingAsync(client, "busy", 1);

        HttpResponseMessage response = await leader;
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        float[][] answers = Answers(await response.JsonAsync());
        for (int s = 0; s < kept.Length; s++)
            Assert.Null(BitDifference(Alone(model, kept[s]), answers[s]));
        string metrics = await client.GetStringAsync("/metrics");
        Assert.Equal(1, Sample(metrics, "gruservice_inference_batch_size_count{model=\"busy\"}"));
        Assert.Equal(kept.Length, Sample(metrics, "gruservice_inference_batch_size_sum{model=\"busy\"}"));
        Assert.Equal(0, Sample(metrics, "gruservice_inference_pending_requests{model=\"busy\"}"));
    }

    [Fact]
    public async Task Batching_SwitchedOffForOneModel_RunsEachOfItsRequestsAlone_WhileOthersAreBatched()
    {
        ReferenceModel reference = ReferenceModel.Load(28);
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?>
        {
            ["Inference:Batching:MaxBatchSize"] = "8",
            ["Inference:Batching:MaxQueueDelayMicroseconds"] = LongDelay,
            ["Inference:Batching:Models:solo:Enabled"] = "false",
            ["Inference:Batching:Models:pairs:MaxBatchSize"] = "2",
        });
        HttpClient client = await factory.ReadyClientAsync();
        foreach (string name in new[] { "solo", "shared", "pairs" })
            Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync(name, reference.File)).StatusCode);

        var random = new Random(4);
        string[] bodies = [.. Enumerable.Range(0, 8).Select(_ => RequestJson(RandomSequences(random, 1, reference.InputSize, 10)))];
        HttpResponseMessage[] responses = await Task.WhenAll(new[] { "solo", "shared", "pairs" }
            .SelectMany(name => bodies.Select(body => client.PostJsonAsync($"/v1/models/{name}/forecast", body))));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));

        string metrics = await client.GetStringAsync("/metrics");
        Assert.Equal(8, Sample(metrics, "gruservice_inference_batch_size_count{model=\"solo\"}"));
        Assert.Equal(8, Sample(metrics, "gruservice_inference_batch_size_bucket{model=\"solo\",le=\"1\"}"));
        Assert.Null(Sample(metrics, "gruservice_inference_pending_requests{model=\"solo\"}"));
        Assert.True(Sample(metrics, "gruservice_inference_batch_size_count{model=\"shared\"}") < 8, "the shared model's requests were not batched");
        // Batches of at most two sequences: none counts beyond the bucket of 2.
        Assert.Equal(Sample(metrics, "gruservice_inference_batch_size_count{model=\"pairs\"}"),
            Sample(metrics, "gruservice_inference_batch_size_bucket{model=\"pairs\",le=\"2\"}"));
        Assert.True(Sample(metrics, "gruservice_inference_batch_size_count{model=\"pairs\"}") < 8, "the pairs model's requests were not batched");
    }

    [Fact]
    public async Task Metrics_WithBatchingSeries_PassPromtool()
    {
        ReferenceModel reference = ReferenceModel.Load(25);
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?> { ["Inference:Batching:MaxBatchSize"] = "4" });
        HttpClient client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("linted", reference.File)).StatusCode);
        var random = new Random(5);
        HttpResponseMessage[] responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ =>
            client.PostJsonAsync("/v1/models/linted/classify", RequestJson(RandomSequences(random, 2, reference.InputSize, 10)))));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.OK, r.StatusCode));

        string metrics = await client.GetStringAsync("/metrics");
        var (exitCode, output) = Observability.Promtool.CheckMetrics(metrics);

        Assert.True(exitCode == 0 && output.Length == 0, $"promtool exit code {exitCode}:\n{output}\n\nInput:\n{metrics}");
        Assert.Contains("# TYPE gruservice_inference_batch_size histogram\n", metrics);
        Assert.Contains("# TYPE gruservice_inference_queue_duration_seconds histogram\n", metrics);
        Assert.Contains("# TYPE gruservice_inference_pending_requests gauge\n", metrics);
    }

    [Theory]
    [InlineData("Inference:Batching:MaxBatchSize", "0", "Inference:Batching:MaxBatchSize is 0; it must be from 1 to 1000000 sequences")]
    [InlineData("Inference:Batching:MaxQueueDelayMicroseconds", "-5", "Inference:Batching:MaxQueueDelayMicroseconds is -5; it must be from 0")]
    [InlineData("Inference:Batching:MaxQueueDelayMicroseconds", "2000000", "Inference:Batching:MaxQueueDelayMicroseconds is 2000000; it must be from 0")]
    [InlineData("Inference:Batching:Models:demand:MaxBatchSize", "-1", "Inference:Batching:Models:demand:MaxBatchSize is -1")]
    [InlineData("Inference:Batching:Models:Not A Name:Enabled", "false", "Inference:Batching:Models:Not A Name: 'Not A Name' is not a model name")]
    public void Startup_Fails_NamingTheBatchingSettingThatIsWrong(string key, string value, string message)
    {
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?> { [key] = value });

        var failure = Assert.Throws<OptionsValidationException>(() => factory.CreateClient());

        Assert.Contains(message, failure.Message);
    }

    /// <summary>Scrapes until the model's pending-requests gauge shows <paramref name="count"/>.</summary>
    private static async Task WaitForPendingAsync(HttpClient client, string model, int count)
    {
        string series = $"gruservice_inference_pending_requests{{model=\"{model}\"}}";
        for (int attempt = 0; attempt < 1000; attempt++)
        {
            if (Sample(await client.GetStringAsync("/metrics"), series) == count) return;
            await Task.Delay(5);
        }
        Assert.Fail($"{series} never reached {count}.");
    }
}
