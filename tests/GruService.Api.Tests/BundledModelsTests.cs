using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace GruService.Api.Tests;

/// <summary>The service as the README runs it: the bundled default models from models/.</summary>
public class BundledModelsTests() : ServiceTestBase(new Dictionary<string, string?> { ["Models:BundledDirectory"] = "models" })
{
    private static string Example(string name) =>
        File.ReadAllText(Path.Combine(RepositoryRoot(), "models", "examples", name + ".json"));

    internal static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "GruService.sln"))) directory = directory.Parent;
        return directory?.FullName ?? throw new DirectoryNotFoundException("The repository root was not found.");
    }

    [Fact]
    public async Task SwaggerExamples_NameTheBundledModels_WhenUploadsSortBeforeThem()
    {
        Assert.Equal(HttpStatusCode.Created, (await Client.PutModelAsync("aaa-forecast", ReferenceModel.Load(8).File)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await Client.PutModelAsync("aaa-classify", ReferenceModel.Load(5).File)).StatusCode);
        JsonObject paths = (await (await Client.GetAsync("/openapi/v1.json")).JsonAsync())["paths"]!.AsObject();
        string ExampleName(string path, string method) =>
            (string)paths[path]![method]!["parameters"]!.AsArray().Single(p => (string?)p!["name"] == "name")!["example"]!;

        Assert.Equal("ett-oil-temperature", ExampleName("/v1/models/{name}/forecast", "post"));
        Assert.Equal("fashion-mnist", ExampleName("/v1/models/{name}/classify", "post"));
        Assert.Equal("ett-oil-temperature", ExampleName("/v1/models/{name}", "get"));
    }

    [Fact]
    public async Task BothBundledModels_AreServed_WithTheirTrainingRecord()
    {
        JsonObject list = await (await Client.GetAsync("/v1/models")).JsonAsync();
        Assert.Equal(["ett-oil-temperature", "fashion-mnist"], list["models"]!.AsArray().Select(m => (string?)m!["name"]));
        JsonObject classifier = await (await Client.GetAsync("/v1/models/fashion-mnist")).JsonAsync();
        Assert.Equal("Ankle boot", (string?)classifier["classes"]![9]);
        Assert.True((double)classifier["metadata"]!["training"]!["test"]!["accuracy"]! > 0.85);
        // The forecaster's file names its one feature and its one forecast value, as every upload must when it names them.
        JsonObject forecaster = await (await Client.GetAsync("/v1/models/ett-oil-temperature")).JsonAsync();
        Assert.Equal(["OT"], forecaster["feature_names"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(["OT"], forecaster["target_names"]!.AsArray().Select(n => (string?)n));
    }

    [Fact]
    public async Task ForecasterExample_Returns24HourForecast()
    {
        HttpResponseMessage response = await Client.PostJsonAsync("/v1/models/ett-oil-temperature/forecast", Example("ett-oil-temperature"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        JsonArray forecast = (await response.JsonAsync())["forecasts"]![0]!.AsArray();
        Assert.Equal(24, forecast.Count);
        // Oil temperature in °C: the forecast stays in the range the input window is in.
        Assert.All(forecast, step => Assert.InRange((double)step![0]!, -10, 60));
    }

    [Fact]
    public async Task ClassifierExample_RecognisesTheAnkleBoot()
    {
        HttpResponseMessage response = await Client.PostJsonAsync("/v1/models/fashion-mnist/classify", Example("fashion-mnist"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Ankle boot", (string?)(await response.JsonAsync())["predictions"]![0]!["label"]);
    }

    [Theory]
    [InlineData("/v1/models/{name}/forecast", "ett-oil-temperature")]
    [InlineData("/v1/models/{name}/classify", "fashion-mnist")]
    public async Task SwaggerExamples_NameABundledModel_AndSucceed(string path, string model)
    {
        JsonObject document = await (await Client.GetAsync("/openapi/v1.json")).JsonAsync();
        JsonObject operation = document["paths"]![path]!["post"]!.AsObject();
        Assert.Equal(model, (string?)operation["parameters"]![0]!["example"]);
        string body = operation["requestBody"]!["content"]!["application/json"]!["example"]!.ToJsonString();
        HttpResponseMessage response = await Client.PostAsync(path.Replace("{name}", model), new StringContent(body, Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }
}
