using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace GruService.Api.Tests;

public class OpenApiTests(ReferenceServiceFixture fixture) : IClassFixture<ReferenceServiceFixture>
{
    private static readonly string[] Operations =
    [
        "get /v1/models", "get /v1/models/{name}", "put /v1/models/{name}", "delete /v1/models/{name}",
        "get /v1/models/{name}/versions", "post /v1/models/{name}/versions/{version}/activate",
        "post /v1/models/{name}/forecast", "post /v1/models/{name}/classify",
        "get /healthz", "get /readyz", "get /metrics",
    ];

    private async Task<JsonObject> DocumentAsync()
    {
        HttpResponseMessage response = await fixture.Client.GetAsync("/openapi/v1.json");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return await response.JsonAsync();
    }

    [Fact]
    public async Task Document_DescribesEveryEndpoint_WithSummaryAndDescription()
    {
        JsonObject paths = (await DocumentAsync())["paths"]!.AsObject();
        foreach (string operation in Operations)
        {
            string[] parts = operation.Split(' ');
            JsonNode? op = paths[parts[1]]?[parts[0]];
            Assert.True(op is not null, $"{operation} is missing from the document");
            Assert.False(string.IsNullOrWhiteSpace((string?)op["summary"]), $"{operation} has no summary");
            Assert.False(string.IsNullOrWhiteSpace((string?)op["description"]), $"{operation} has no description");
            Assert.NotNull(op["responses"]!["200"] ?? op["responses"]!["201"] ?? op["responses"]!["204"]);
        }
    }

    [Fact]
    public async Task Document_DeclaresProblemBodies_ForErrors()
    {
        JsonObject forecast = (await DocumentAsync())["paths"]!["/v1/models/{name}/forecast"]!["post"]!.AsObject();
        foreach (string status in new[] { "400", "404", "409", "413", "415" })
            Assert.NotNull(forecast["responses"]![status]!["content"]!["application/problem+json"]);
    }

    [Theory]
    [InlineData("/v1/training-jobs")]
    [InlineData("/v1/training-jobs/{id}/cancel")]
    public async Task Document_DeclaresStorageProblems_ForTrainingJobWrites(string path)
    {
        JsonObject post = (await DocumentAsync())["paths"]![path]!["post"]!.AsObject();
        foreach (string status in new[] { "503", "507" })
            Assert.NotNull(post["responses"]![status]?["content"]?["application/problem+json"]);
    }

    [Fact]
    public async Task Document_UsesSnakeCaseSchemas()
    {
        JsonObject card = (await DocumentAsync())["components"]!["schemas"]!["ModelCard"]!["properties"]!.AsObject();
        Assert.True(card.ContainsKey("parameter_count"));
        Assert.True(card.ContainsKey("linear_before_reset"));
        Assert.Equal("integer", (string?)card["version"]!["type"]);
    }

    [Theory]
    [InlineData("Forecast", "/v1/models/{name}/forecast", "forecast")]
    [InlineData("Classify", "/v1/models/{name}/classify", "classify")]
    public async Task Examples_SucceedWhenTried(string operationId, string path, string task)
    {
        JsonObject operation = (await DocumentAsync())["paths"]![path]!["post"]!.AsObject();
        Assert.Equal(operationId, (string?)operation["operationId"]);
        string name = (string)operation["parameters"]!.AsArray().Single(p => (string?)p!["name"] == "name")!["example"]!;
        JsonNode example = operation["requestBody"]!["content"]!["application/json"]!["example"]!;
        Assert.Equal(task, (string?)(await (await fixture.Client.GetAsync($"/v1/models/{name}")).JsonAsync())["task"]);

        HttpResponseMessage response = await fixture.Client.PostAsync(path.Replace("{name}", name),
            new StringContent(example.ToJsonString(), Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task PathExamples_NameAServedModel()
    {
        JsonObject paths = (await DocumentAsync())["paths"]!.AsObject();
        JsonObject activate = paths["/v1/models/{name}/versions/{version}/activate"]!["post"]!.AsObject();
        string name = (string)activate["parameters"]!.AsArray().Single(p => (string?)p!["name"] == "name")!["example"]!;
        int version = (int)activate["parameters"]!.AsArray().Single(p => (string?)p!["name"] == "version")!["example"]!;
        Assert.Equal(HttpStatusCode.OK, (await fixture.Client.PostAsync($"/v1/models/{name}/versions/{version}/activate", null)).StatusCode);
    }

    [Fact]
    public async Task SwaggerUi_IsServedAndPointsAtTheDocument()
    {
        HttpResponseMessage page = await fixture.Client.GetAsync("/swagger/index.html");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("swagger-ui", await page.Content.ReadAsStringAsync());
        string initializer = await (await fixture.Client.GetAsync("/swagger/index.js")).Content.ReadAsStringAsync();
        Assert.Contains("/openapi/v1.json", initializer);
    }
}

public class SwaggerSwitchTests
{
    [Fact]
    public async Task SwaggerUi_IsOff_WhenDisabledInConfiguration_ButTheDocumentStays()
    {
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?> { ["Swagger:Enabled"] = "false" });
        HttpClient client = factory.CreateClient();
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/swagger/index.html")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/openapi/v1.json")).StatusCode);
    }
}
