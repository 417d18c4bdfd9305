using System.Net;
using System.Text.Json.Nodes;
using GruService.Api.Tests.Training;
using GruService.Engine;
using GruService.Engine.ModelFiles;
using GruService.Engine.Training;
using GruService.Engine.Training.Data;

namespace GruService.Api.Tests;

/// <summary>Models using the forecast extensions (docs/model-format.md, "Extensions") through the HTTP API.</summary>
public class ForecastExtensionsApiTests : ServiceTestBase
{
    /// <summary>A channel-independent, segment-of-4, last-value-normalised forecaster of 2 columns with random weights.</summary>
    private static byte[] SegmentedModel()
    {
        var config = new GruConfig
        {
            Task = GruTask.Forecast, InputSize = 2, HiddenSize = 6, Horizon = 3, OutputSize = 2,
            WindowNormalization = WindowNormalization.Last, TargetInputs = [0, 1], ChannelIndependent = true, SegmentLength = 4,
        };
        var parameters = new GruParameters<float>(config);
        parameters.InitializeLikePyTorch(new Random(3));
        return ModelFile.Write(parameters.ToModel());
    }

    [Fact]
    public async Task Card_ShowsTheExtensions()
    {
        Assert.Equal(HttpStatusCode.Created, (await Client.PutModelAsync("segmented", SegmentedModel())).StatusCode);
        JsonObject card = await (await Client.GetAsync("/v1/models/segmented")).JsonAsync();
        Assert.Equal("last", (string?)card["window_normalization"]);
        Assert.True((bool)card["channel_independent"]!);
        Assert.Equal(4, (int)card["segment_length"]!);

        JsonObject plain = await (await Client.PutModelAsync("plain", ReferenceModel.Load(8).File)).JsonAsync();
        Assert.False(plain.ContainsKey("segment_length"));
        Assert.False(plain.ContainsKey("window_normalization"));
    }

    [Fact]
    public async Task Forecast_Returns400_WhenALengthIsNotAMultipleOfTheSegment()
    {
        await Client.PutModelAsync("segmented", SegmentedModel());
        string Steps(int n) => "[" + string.Join(", ", Enumerable.Range(0, n).Select(t => $"[{t}, {t * 2}]")) + "]";

        HttpResponseMessage ok = await Client.PostJsonAsync("/v1/models/segmented/forecast", $"{{\"inputs\": [{Steps(8)}, {Steps(4)}]}}");
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.Equal(3, (await ok.JsonAsync())["forecasts"]![1]!.AsArray().Count);

        string detail = await (await Client.PostJsonAsync("/v1/models/segmented/forecast", $"{{\"inputs\": [{Steps(8)}, {Steps(6)}]}}"))
            .AssertProblemAsync(400, "invalid_input");
        Assert.Equal("inputs[1] has 6 time steps; model 'segmented' reads segments of 4 steps, so each sequence's length must be a multiple of 4.", detail);
    }

    [Fact]
    public async Task TrainingJob_TrainsAChannelIndependentSegmentedModel()
    {
        var series = new JsonArray();
        var random = new Random(4);
        var steps = new JsonArray();
        for (int t = 0; t < 500; t++)
            steps.Add(new JsonArray(Math.Sin(t / 3.0) + 0.02 * random.NextDouble(), Math.Cos(t / 5.0) + 10 + 0.02 * random.NextDouble()));
        series.Add(steps);
        JsonObject request = TrainingRequests.Forecast("ci", epochs: 6, series);
        request["window"] = 24;
        request["architecture"] = new JsonObject { ["hidden_size"] = 12, ["channel_independent"] = true, ["segment_length"] = 6 };
        request["hyperparameters"]!["window_normalization"] = "last";

        HttpResponseMessage started = await Client.PostJsonAsync("/v1/training-jobs", request.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, started.StatusCode);
        JsonObject job = await TrainingRequests.WaitAsync(Client, (string)(await started.JsonAsync())["id"]!, TrainingRequests.Finished);
        Assert.Equal("succeeded", (string?)job["status"]);

        JsonObject card = await (await Client.GetAsync("/v1/models/ci")).JsonAsync();
        Assert.Equal(6, (int)card["segment_length"]!);
        Assert.True((bool)card["channel_independent"]!);
        Assert.Equal("last", (string?)card["window_normalization"]);
        Assert.Equal(2, (int)card["output_size"]!);

        request["architecture"]!["segment_length"] = 5;
        string detail = await (await Client.PostJsonAsync("/v1/training-jobs", request.ToJsonString())).AssertProblemAsync(400, "invalid_training_job");
        Assert.Contains("divide the window (24)", detail);
    }
}
