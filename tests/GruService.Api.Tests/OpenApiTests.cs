using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using GruService.Api.OpenApi;

namespace GruService.Api.Tests;

public class OpenApiTests(ReferenceServiceFixture fixture) : IClassFixture<ReferenceServiceFixture>
{
    private static readonly string[] Operations =
    [
        "get /v1/models", "get /v1/models/{name}", "put /v1/models/{name}", "delete /v1/models/{name}",
        "get /v1/models/{name}/versions", "post /v1/models/{name}/versions/{version}/activate",
        "post /v1/models/{name}/forecast", "post /v1/models/{name}/classify",
        "get /v1/training-jobs", "get /v1/training-jobs/{id}", "delete /v1/training-jobs/{id}",
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
    public async Task UploadModel_IsDocumentedToAnswer201ForANewVersion_And200ForTheActiveVersionsFile()
    {
        JsonObject upload = (await DocumentAsync())["paths"]!["/v1/models/{name}"]!["put"]!.AsObject();
        foreach (string status in (string[])["200", "201"])
            Assert.EndsWith("/ModelCard", (string?)upload["responses"]![status]?["content"]?["application/json"]?["schema"]?["$ref"]);
        string description = (string)upload["description"]!;
        Assert.Contains("answers 200 OK", description);
        Assert.Contains("201 Created", description);
    }

    [Theory]
    [InlineData("forecast", "ForecastResponse")]
    [InlineData("classify", "ClassifyResponse")]
    public async Task InferenceAnswers_AreDocumentedAs200WithTheirSchema(string task, string schema)
    {
        JsonObject operation = (await DocumentAsync())["paths"]!["/v1/models/{name}/" + task]!["post"]!.AsObject();
        Assert.EndsWith("/" + schema, (string?)operation["responses"]!["200"]?["content"]?["application/json"]?["schema"]?["$ref"]);
    }

    [Fact]
    public async Task Document_DeclaresProblemBodies_ForErrors()
    {
        JsonObject forecast = (await DocumentAsync())["paths"]!["/v1/models/{name}/forecast"]!["post"]!.AsObject();
        foreach (string status in new[] { "400", "404", "409", "413", "415" })
            Assert.NotNull(forecast["responses"]![status]!["content"]!["application/problem+json"]);
    }

    [Fact]
    public async Task ProblemSchema_HasReasonAndTraceId_WithDescriptions_AsEveryErrorBodyDoes()
    {
        JsonObject document = await DocumentAsync();
        string reference = (string)document["paths"]!["/v1/models/{name}/forecast"]!["post"]!["responses"]!["400"]!["content"]!["application/problem+json"]!["schema"]!["$ref"]!;
        JsonObject schema = document["components"]!["schemas"]![reference.Split('/')[^1]]!.AsObject();
        JsonObject properties = schema["properties"]!.AsObject();
        foreach (string name in new[] { "reason", "trace_id" })
        {
            Assert.True(properties[name] is not null, $"the problem schema has no {name}: {schema.ToJsonString()}");
            Assert.Equal("string", (string?)properties[name]!["type"]);
            Assert.False(string.IsNullOrWhiteSpace((string?)properties[name]!["description"]), $"{name} has no description");
        }
        Assert.Contains("reason", schema["required"]!.AsArray().Select(n => (string?)n));

        // The names are those of the bodies themselves.
        HttpResponseMessage response = await fixture.Client.GetAsync("/v1/models/no-such-model");
        JsonObject problem = await response.JsonAsync();
        Assert.NotNull(problem["reason"]);
        Assert.Matches("^[0-9a-f]{32}$", (string?)problem["trace_id"]);
    }

    [Fact]
    public async Task Document_DeclaresEveryAnswerOfStartTrainingJob_AndItsBody()
    {
        JsonObject post = (await DocumentAsync())["paths"]!["/v1/training-jobs"]!["post"]!.AsObject();
        foreach (string status in new[] { "400", "409", "413", "415", "429" })
            Assert.NotNull(post["responses"]![status]?["content"]?["application/problem+json"]);
        JsonNode body = post["requestBody"]!;
        Assert.True((bool)body["required"]!);
        Assert.Equal("#/components/schemas/TrainingJobRequest", (string?)body["content"]!["application/json"]!["schema"]!["$ref"]);
    }

    [Theory]
    [InlineData("post", "/v1/training-jobs")]
    [InlineData("post", "/v1/training-jobs/{id}/cancel")]
    [InlineData("delete", "/v1/training-jobs/{id}")]
    public async Task Document_DeclaresStorageProblems_ForTrainingJobWrites(string method, string path)
    {
        JsonObject operation = (await DocumentAsync())["paths"]![path]![method]!.AsObject();
        foreach (string status in new[] { "503", "507" })
            Assert.NotNull(operation["responses"]![status]?["content"]?["application/problem+json"]);
    }

    [Fact]
    public async Task Document_DescribesTheJobListsLimit_AsAnIntegerFrom1To500_AndItsNextToken()
    {
        JsonObject document = await DocumentAsync();
        JsonObject list = document["paths"]!["/v1/training-jobs"]!["get"]!.AsObject();
        JsonNode limit = list["parameters"]!.AsArray().Single(p => (string?)p!["name"] == "limit")!;
        Assert.Equal("integer", (string?)limit["schema"]!["type"]);
        Assert.Equal(1, (int)limit["schema"]!["minimum"]!);
        Assert.Equal(500, (int)limit["schema"]!["maximum"]!);
        Assert.Equal(50, (int)limit["schema"]!["default"]!);
        Assert.False(string.IsNullOrWhiteSpace((string?)list["parameters"]!.AsArray().Single(p => (string?)p!["name"] == "after")!["description"]));
        Assert.NotNull(list["responses"]!["400"]!["content"]!["application/problem+json"]);
        JsonObject page = document["components"]!["schemas"]!["TrainingJobList"]!.AsObject();
        Assert.False(string.IsNullOrWhiteSpace((string?)page["properties"]!["next"]?["description"]), page.ToJsonString());
        JsonObject delete = document["paths"]!["/v1/training-jobs/{id}"]!["delete"]!.AsObject();
        foreach (string status in new[] { "204", "404", "409" })
            Assert.NotNull(delete["responses"]![status]);
    }

    [Fact]
    public async Task Document_UsesSnakeCaseSchemas()
    {
        JsonObject card = (await DocumentAsync())["components"]!["schemas"]!["ModelCard"]!["properties"]!.AsObject();
        Assert.True(card.ContainsKey("parameter_count"));
        Assert.True(card.ContainsKey("linear_before_reset"));
        Assert.Equal("integer", (string?)card["version"]!["type"]);
    }

    [Fact]
    public async Task Document_RequiresNoPropertyThatCanBeNull()
    {
        // The JSON options omit null properties, so a property that can be null can be absent from a body.
        JsonObject schemas = (await DocumentAsync())["components"]!["schemas"]!.AsObject();
        foreach ((string name, JsonNode? schema) in schemas)
        {
            foreach (string property in Required(schemas, name))
                Assert.False(AdmitsNull(schema!["properties"]![property]), $"{name}.{property} can be null, so omitted, but is required");
        }

        Assert.Contains("name", Required(schemas, "ModelCard"));
        Assert.Contains("version", Required(schemas, "ModelCard"));
        string[][] omitted =
        [
            ["ModelCard", "classes", "horizon", "output_size", "window_normalization", "channel_independent", "segment_length", "feature_names", "target_names"],
            ["TrainingJob", "started_at", "finished_at", "progress", "result", "error", "dataset"],
            ["JobProgress", "validation_loss", "validation_metric"],
            ["JobEpoch", "validation_loss", "validation_metric"],
            ["SeriesSummary", "name", "first_time", "last_time"],
        ];
        foreach (string[] row in omitted)
        {
            Assert.True(schemas[row[0]]?["properties"] is JsonObject, $"{row[0]} is missing from the document");
            foreach (string property in row[1..])
                Assert.DoesNotContain(property, Required(schemas, row[0]));
        }
    }

    [Theory]
    [InlineData("JobProgress")]
    [InlineData("JobEpoch")]
    public async Task Document_SaysWhatATrainingJobsValidationMetricIs(string schema)
    {
        JsonObject properties = (await DocumentAsync())["components"]!["schemas"]![schema]!["properties"]!.AsObject();
        string? description = (string?)properties["validation_metric"]!["description"];
        Assert.Contains("MSE", description);
        Assert.Contains("accuracy", description);
    }

    [Fact]
    public async Task Document_SaysHowTheStepScheduleChangesTheLearningRate()
    {
        // Inlined into the request's schema, as the document has no schema of its own for it.
        JsonObject properties = (await DocumentAsync())["components"]!["schemas"]!["TrainingJobRequest"]!["properties"]!["hyperparameters"]!["properties"]!.AsObject();
        Assert.Contains("every 10 epochs", (string?)properties["schedule"]!["description"]);
    }

    [Fact]
    public async Task Document_RequiresModelAndTask_OfATrainingJob_AsStrings()
    {
        JsonObject request = (await DocumentAsync())["components"]!["schemas"]!["TrainingJobRequest"]!.AsObject();
        Assert.Equal(["model", "task"], request["required"]!.AsArray().Select(p => (string)p!).Order());
        Assert.Equal("string", (string?)request["properties"]!["model"]!["type"]);
        Assert.Equal("string", (string?)request["properties"]!["task"]!["type"]);
    }

    [Fact]
    public async Task ModelCards_HoldEveryPropertyTheDocumentRequires()
    {
        JsonObject schemas = (await DocumentAsync())["components"]!["schemas"]!.AsObject();
        string[] required = [.. Required(schemas, "ModelCard")];
        JsonArray cards = (await (await fixture.Client.GetAsync("/v1/models")).JsonAsync())["models"]!.AsArray();
        // Forecast and classify cards leave out different properties (classes; horizon and output_size).
        Assert.Contains(cards, c => (string?)c!["task"] == "forecast");
        Assert.Contains(cards, c => (string?)c!["task"] == "classify");
        foreach (JsonNode? card in cards)
            foreach (string property in required)
                Assert.True(card!.AsObject().ContainsKey(property), $"{card["name"]} has no '{property}', which ModelCard requires");
    }

    private static IEnumerable<string> Required(JsonObject schemas, string name) =>
        schemas[name]?["required"]?.AsArray().Select(p => (string)p!) ?? [];

    /// <summary>Null through any of the spellings OpenAPI 3.0 and 3.1 have for it.</summary>
    private static bool AdmitsNull(JsonNode? schema)
    {
        if (schema is not JsonObject s) return false;
        bool nullType = s["type"] is JsonArray types ? types.Any(t => (string?)t == "null") : (string?)s["type"] == "null";
        bool nullable = s["nullable"] is JsonValue flag && flag.GetValue<bool>();
        return nullType || nullable || new[] { "oneOf", "anyOf" }.Any(key => s[key] is JsonArray options && options.Any(AdmitsNull));
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
    public async Task DeleteModelExample_NamesNoServedModel_SoTryingItOutRemovesNothing()
    {
        JsonObject delete = (await DocumentAsync())["paths"]!["/v1/models/{name}"]!["delete"]!.AsObject();
        string name = (string)delete["parameters"]!.AsArray().Single(p => (string?)p!["name"] == "name")!["example"]!;
        await (await fixture.Client.GetAsync($"/v1/models/{name}")).AssertProblemAsync(404, "unknown_model");
    }

    [Fact]
    public async Task Document_DescribesActivateVersion_AsAPositiveInteger_WithItsProblem()
    {
        JsonObject activate = (await DocumentAsync())["paths"]!["/v1/models/{name}/versions/{version}/activate"]!["post"]!.AsObject();
        JsonNode schema = activate["parameters"]!.AsArray().Single(p => (string?)p!["name"] == "version")!["schema"]!;
        Assert.Equal("integer", (string?)schema["type"]);
        Assert.Equal(1, (int)schema["minimum"]!);
        Assert.NotNull(activate["responses"]!["400"]!["content"]!["application/problem+json"]);
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

public class OmittedPropertiesTransformerTests
{
    private sealed record Sample(
        string Name,
        string? Note,
        int Count,
        int? Limit,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.Never)] string? Kept,
        [property: JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)] int Zero);

    [Fact]
    public void CanBeOmitted_SaysExactlyWhichPropertiesTheSerializerLeavesOut()
    {
        var options = new JsonSerializerOptions
        {
            PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
            DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
            TypeInfoResolver = new DefaultJsonTypeInfoResolver(),
        };
        // Every value null or default, except Name: a non-nullable reference is never null by its type's contract.
        JsonObject written = JsonSerializer.SerializeToNode(new Sample("n", null, 0, null, null, 0), options)!.AsObject();

        JsonTypeInfo sample = options.GetTypeInfo(typeof(Sample));
        Assert.Equal(6, sample.Properties.Count);
        foreach (JsonPropertyInfo property in sample.Properties)
        {
            bool left = !written.ContainsKey(property.Name);
            Assert.True(OmittedPropertiesTransformer.CanBeOmitted(property) == left,
                $"The serializer {(left ? "left out" : "wrote")} {property.Name}; CanBeOmitted says {!left}");
        }
    }
}
