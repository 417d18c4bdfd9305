using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace GruService.Api.Tests;

/// <summary>One host with every reference model uploaded through PUT.</summary>
public sealed class ReferenceServiceFixture : IAsyncLifetime
{
    public GruServiceFactory Factory { get; } = new();
    public HttpClient Client { get; private set; } = null!;
    public Dictionary<int, ReferenceModel> Models { get; } = [];

    public async Task InitializeAsync()
    {
        Client = await Factory.ReadyClientAsync();
        foreach (int seed in ReferenceModel.Seeds())
        {
            ReferenceModel model = ReferenceModel.Load(seed);
            HttpResponseMessage response = await Client.PutModelAsync(model.Name, model.File);
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            Models[seed] = model;
        }
    }

    public Task DisposeAsync()
    {
        Factory.Dispose();
        return Task.CompletedTask;
    }

    public ReferenceModel First(Func<ReferenceModel, bool> predicate) => Models.Values.First(predicate);
}

public class InferenceApiTests(ReferenceServiceFixture fixture) : IClassFixture<ReferenceServiceFixture>
{
    private HttpClient Client => fixture.Client;

    [Fact]
    public async Task ForecastAndClassify_MatchOnnxRuntime_ForEveryReferenceModel()
    {
        Assert.True(fixture.Models.Count >= 20);
        foreach (ReferenceModel model in fixture.Models.Values)
        {
            // All of a model's sequences in one request: ragged lengths, each answered as if alone.
            HttpResponseMessage response = await Client.PostJsonAsync($"/v1/models/{model.Name}/{model.Task}", HttpTestExtensions.Serialize(model.Inputs));
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            JsonObject body = await response.JsonAsync();
            Assert.Equal(model.Name, (string?)body["model"]);
            Assert.Equal(1, (int)body["version"]!);
            for (int s = 0; s < model.Inputs.Length; s++)
            {
                float[] actual = model.Task == "forecast"
                    ? [.. body["forecasts"]![s]!.AsArray().SelectMany(step => step!.AsArray().Select(v => (float)v!))]
                    : [.. body["predictions"]![s]!["probabilities"]!.AsArray().Select(v => (float)v!)];
                ReferenceModel.AssertClose(model.Expected[s], actual, $"{model.Name} sequence {s}");
            }
        }
    }

    [Fact]
    public async Task Forecast_ReturnsHorizonByOutputSize_PerSequence()
    {
        ReferenceModel model = fixture.First(m => m.Task == "forecast" && m.Config.GetProperty("horizon").GetInt32() > 1);
        int horizon = model.Config.GetProperty("horizon").GetInt32(), outputs = model.Config.GetProperty("output_size").GetInt32();
        JsonObject body = await (await Client.PostJsonAsync($"/v1/models/{model.Name}/forecast", HttpTestExtensions.Serialize(model.Inputs))).JsonAsync();
        JsonArray forecasts = body["forecasts"]!.AsArray();
        Assert.Equal(model.Inputs.Length, forecasts.Count);
        Assert.All(forecasts, f =>
        {
            Assert.Equal(horizon, f!.AsArray().Count);
            Assert.All(f.AsArray(), step => Assert.Equal(outputs, step!.AsArray().Count));
        });
    }

    [Fact]
    public async Task Classify_ReturnsArgmaxLabelAndProbabilitiesInClassOrder()
    {
        ReferenceModel model = fixture.First(m => m.Task == "classify");
        string[] classes = [.. model.Config.GetProperty("classes").EnumerateArray().Select(c => c.GetString()!)];
        JsonObject body = await (await Client.PostJsonAsync($"/v1/models/{model.Name}/classify", HttpTestExtensions.Serialize(model.Inputs))).JsonAsync();
        foreach (JsonNode? prediction in body["predictions"]!.AsArray())
        {
            float[] p = [.. prediction!["probabilities"]!.AsArray().Select(v => (float)v!)];
            Assert.Equal(classes.Length, p.Length);
            Assert.InRange(p.Sum(), 0.9999f, 1.0001f);
            int index = (int)prediction["index"]!;
            Assert.Equal(Array.IndexOf(p, p.Max()), index);
            Assert.Equal(classes[index], (string?)prediction["label"]);
        }
    }

    [Fact]
    public async Task Forecast_AcceptsBareNumbersAndOneElementArrays_ForInputSizeOne()
    {
        ReferenceModel model = fixture.First(m => m.InputSize == 1);
        float[][] sequence = model.Inputs[0];
        string asArrays = HttpTestExtensions.Serialize([sequence]);
        string asNumbers = $"{{\"inputs\": [[{string.Join(", ", sequence.Select(step => step[0].ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}]]}}";
        JsonObject a = await (await Client.PostJsonAsync($"/v1/models/{model.Name}/{model.Task}", asArrays)).JsonAsync();
        JsonObject b = await (await Client.PostJsonAsync($"/v1/models/{model.Name}/{model.Task}", asNumbers)).JsonAsync();
        Assert.Equal(a.ToJsonString(), b.ToJsonString());
    }

    [Fact]
    public async Task Forecast_AnswersEachRaggedSequenceAsIfAlone()
    {
        ReferenceModel model = fixture.First(m => m.Task == "forecast" && m.Inputs.Select(i => i.Length).Distinct().Count() > 1);
        string path = $"/v1/models/{model.Name}/forecast";
        JsonObject together = await (await Client.PostJsonAsync(path, HttpTestExtensions.Serialize(model.Inputs))).JsonAsync();
        for (int s = 0; s < model.Inputs.Length; s++)
        {
            JsonObject alone = await (await Client.PostJsonAsync(path, HttpTestExtensions.Serialize([model.Inputs[s]]))).JsonAsync();
            Assert.Equal(alone["forecasts"]![0]!.ToJsonString(), together["forecasts"]![s]!.ToJsonString());
        }
    }

    [Fact]
    public async Task Classify_Returns404_ForUnknownModel()
    {
        string detail = await (await Client.PostJsonAsync("/v1/models/no-such-model/classify", "{\"inputs\": [[1]]}")).AssertProblemAsync(404, "unknown_model");
        Assert.Contains("'no-such-model'", detail);
    }

    [Fact]
    public async Task Forecast_Returns409_ForClassifyModel()
    {
        ReferenceModel model = fixture.First(m => m.Task == "classify");
        string detail = await (await Client.PostJsonAsync($"/v1/models/{model.Name}/forecast", HttpTestExtensions.Serialize(model.Inputs))).AssertProblemAsync(409, "wrong_task");
        Assert.Contains($"/v1/models/{model.Name}/classify", detail);
    }

    [Fact]
    public async Task Classify_Returns409_ForForecastModel()
    {
        ReferenceModel model = fixture.First(m => m.Task == "forecast");
        await (await Client.PostJsonAsync($"/v1/models/{model.Name}/classify", HttpTestExtensions.Serialize(model.Inputs))).AssertProblemAsync(409, "wrong_task");
    }

    public static TheoryData<string, string> MalformedBodies => new()
    {
        { "", "empty" },
        { "{\"inputs\": [[1, 2]", "not valid JSON" },
        { "{\"inputs\": [[1, 2]]} trailing", "not valid JSON" },
        { "[[1, 2, 3]]", "send an object" },
        { "{}", "no 'inputs' property" },
        { "{\"input\": [[[1]]]}", "Unknown property 'input'" },
        { "{\"inputs\": [[[1]]], \"inputs\": [[[1]]]}", "appears twice" },
        { "{\"inputs\": []}", "'inputs' is empty" },
        { "{\"inputs\": {}}", "'inputs' is an object; it must be an array of sequences" },
        { "{\"inputs\": [[]]}", "inputs[0] is empty" },
        { "{\"inputs\": [1, 2]}", "inputs[0] is a number" },
        { "{\"inputs\": [[\"1\"]]}", "inputs[0][0] is a string" },
        { "{\"inputs\": [[[null]]]}", "inputs[0][0][0] is null; features must be numbers" },
        { "{\"inputs\": [[null]]}", "inputs[0][0] is null; a time step is a number, or an array of one number." },
        { "{\"inputs\": [[[1e999]]]}", "inputs[0][0][0] is 1e999, not a finite float32 number" },
        { "{\"inputs\": [[[-4e38]]]}", "not a finite float32 number" },
    };

    [Theory]
    [MemberData(nameof(MalformedBodies))]
    public async Task Forecast_Returns400_ForMalformedBody(string body, string expected)
    {
        ReferenceModel model = fixture.First(m => m.Task == "forecast" && m.InputSize == 1);
        string detail = await (await Client.PostJsonAsync($"/v1/models/{model.Name}/forecast", body)).AssertProblemAsync(400, "invalid_input");
        Assert.Contains(expected, detail);
    }

    [Fact]
    public async Task Forecast_Returns400_NamingTheStep_WhenFeatureCountIsWrong()
    {
        ReferenceModel model = fixture.First(m => m.Task == "forecast" && m.InputSize == 8);
        float[][][] inputs = [.. Enumerable.Range(0, 3).Select(_ => Enumerable.Range(0, 7).Select(_ => new float[8]).ToArray())];
        inputs[2][5] = [1, 2, 3];
        string detail = await (await Client.PostJsonAsync($"/v1/models/{model.Name}/forecast", HttpTestExtensions.Serialize(inputs))).AssertProblemAsync(400, "invalid_input");
        Assert.Equal($"inputs[2][5] has 3 features; model '{model.Name}' expects 8.", detail);
    }

    [Fact]
    public async Task Forecast_Returns400_ForBareNumberStep_WhenModelHasSeveralFeatures()
    {
        ReferenceModel model = fixture.First(m => m.InputSize > 1);
        string detail = await (await Client.PostJsonAsync($"/v1/models/{model.Name}/{model.Task}", "{\"inputs\": [[0.5]]}")).AssertProblemAsync(400, "invalid_input");
        Assert.Contains($"inputs[0][0] is a single number; model '{model.Name}' expects {model.InputSize} features", detail);
    }

    [Fact]
    public async Task Classify_Returns415_ForNonJsonContentType()
    {
        ReferenceModel model = fixture.First(m => m.Task == "classify");
        var content = new StringContent("{\"inputs\": [[1]]}", Encoding.UTF8, "text/plain");
        await (await Client.PostAsync($"/v1/models/{model.Name}/classify", content)).AssertProblemAsync(415, "unsupported_media_type");
    }

    [Theory]
    [InlineData("application/json", 200)]
    [InlineData("application/json; charset=utf-8", 200)]
    [InlineData("Application/JSON ;charset=utf-8", 200)]
    [InlineData("application/vnd.example+json; version=2", 200)]
    [InlineData("application/jsonx", 415)]
    [InlineData("text/json; x=+json", 415)]
    [InlineData("text/plain", 415)]
    public async Task Forecast_TakesJsonMediaTypes_WhateverTheirParameters(string contentType, int status)
    {
        ReferenceModel model = fixture.First(m => m.Task == "forecast");
        var content = new StringContent(HttpTestExtensions.Serialize(model.Inputs), Encoding.UTF8);
        content.Headers.ContentType = System.Net.Http.Headers.MediaTypeHeaderValue.Parse(contentType);
        HttpResponseMessage response = await Client.PostAsync($"/v1/models/{model.Name}/forecast", content);
        if (status == 200) Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        else await response.AssertProblemAsync(415, "unsupported_media_type");
    }

    [Fact]
    public async Task Forecast_Returns400_ForInvalidModelName()
    {
        string detail = await (await Client.PostJsonAsync("/v1/models/Bad%20Name/forecast", "{\"inputs\": [[1]]}")).AssertProblemAsync(400, "invalid_model_name");
        Assert.Contains("not a valid model name", detail);
    }
}
