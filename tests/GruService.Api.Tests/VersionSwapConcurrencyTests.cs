using System.Collections.Concurrent;
using System.Net;
using System.Text.Json.Nodes;
using GruService.Engine;
using GruService.Engine.ModelFiles;

namespace GruService.Api.Tests;

public class VersionSwapConcurrencyTests
{
    [Fact]
    public async Task Forecast_UnderParallelLoad_NeverFails_AndEveryAnswerMatchesItsVersion()
    {
        // Two versions with the same shape and different weights: odd versions are A, even versions are B.
        ReferenceModel reference = ReferenceModel.Load(8);
        GruModel a = ModelFile.Read(reference.File, new ModelLimits());
        float[] shiftedBias = [.. a.HeadBias.Select(b => b + 0.75f)];
        var b = new GruModel(a.Config, a.Directions, a.HeadWeight, shiftedBias);
        byte[] fileA = reference.File, fileB = ModelFile.Write(b);

        float[][] sequences = [.. reference.Inputs.Select(s => s.SelectMany(x => x).ToArray())];
        string request = HttpTestExtensions.Serialize(reference.Inputs);
        string expectedA = Answer(a, reference.Inputs), expectedB = Answer(b, reference.Inputs);
        Assert.NotEqual(expectedA, expectedB);

        using var factory = new GruServiceFactory();
        HttpClient client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("swap", fileA)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("swap", fileB)).StatusCode);

        var failures = new ConcurrentQueue<string>();
        var versionsSeen = new ConcurrentDictionary<int, int>();
        using var stop = new CancellationTokenSource();
        Task[] readers = [.. Enumerable.Range(0, 6).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                HttpResponseMessage response = await client.PostJsonAsync("/v1/models/swap/forecast", request);
                string body = await response.Content.ReadAsStringAsync();
                if (response.StatusCode != HttpStatusCode.OK) { failures.Enqueue($"{(int)response.StatusCode}: {body}"); continue; }
                JsonObject answer = JsonNode.Parse(body)!.AsObject();
                int version = (int)answer["version"]!;
                versionsSeen.AddOrUpdate(version, 1, (_, n) => n + 1);
                string expected = version % 2 == 1 ? expectedA : expectedB;
                if (answer["forecasts"]!.ToJsonString() != expected) failures.Enqueue($"version {version} answered with the other version's weights");
            }
        }))];

        // Meanwhile: flip between the two stored versions and upload new ones (each the file the active one is not, so
        // that it is a new version, not the active version's file again).
        for (int round = 0; round < 20; round++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.PostAsync($"/v1/models/swap/versions/{2 - round % 2}/activate", null)).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("swap", round % 2 == 0 ? fileA : fileB)).StatusCode);
            await Task.Delay(5);
        }
        stop.Cancel();
        await Task.WhenAll(readers);

        Assert.Empty(failures);
        Assert.True(versionsSeen.Keys.Count >= 3, $"only versions {string.Join(", ", versionsSeen.Keys)} answered");
        Assert.True(versionsSeen.Values.Sum() >= 100, $"only {versionsSeen.Values.Sum()} requests were answered");
    }

    private static string Answer(GruModel model, float[][][] inputs)
    {
        float[] flat = [.. inputs.SelectMany(s => s.SelectMany(x => x))];
        int[] lengths = [.. inputs.Select(s => s.Length)];
        var output = new float[inputs.Length * model.OutputsPerSequence];
        model.Predict(flat, lengths, output);
        int horizon = model.Config.Horizon, size = model.Config.OutputSize;
        var forecasts = new JsonArray();
        for (int s = 0; s < inputs.Length; s++)
        {
            var steps = new JsonArray();
            for (int h = 0; h < horizon; h++)
                steps.Add(new JsonArray([.. output.AsSpan((s * horizon + h) * size, size).ToArray().Select(v => (JsonNode?)JsonValue.Create(v))]));
            forecasts.Add(steps);
        }
        return forecasts.ToJsonString();
    }
}
