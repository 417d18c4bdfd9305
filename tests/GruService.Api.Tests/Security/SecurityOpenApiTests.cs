using System.Text.Json.Nodes;

namespace GruService.Api.Tests.Security;

public sealed class SecurityOpenApiTests
{
    private static async Task<JsonObject> DocumentAsync(GruServiceFactory factory) =>
        JsonNode.Parse(await factory.CreateClient().GetStringAsync("/openapi/v1.json"))!.AsObject();

    [Fact]
    public async Task Document_DeclaresTheApiKeySchemes_AndRequiresThemWhereKeysAreNeeded()
    {
        using var factory = new GruServiceFactory();
        JsonObject document = await DocumentAsync(factory);
        JsonObject schemes = document["components"]!["securitySchemes"]!.AsObject();
        Assert.Equal("apiKey", (string?)schemes["ApiKeyHeader"]!["type"]);
        Assert.Equal("header", (string?)schemes["ApiKeyHeader"]!["in"]);
        Assert.Equal("X-Api-Key", (string?)schemes["ApiKeyHeader"]!["name"]);
        Assert.Equal("bearer", (string?)schemes["ApiKeyBearer"]!["scheme"]);

        JsonObject upload = document["paths"]!["/v1/models/{name}"]!["put"]!.AsObject();
        Assert.Equal(["ApiKeyHeader", "ApiKeyBearer"], upload["security"]!.AsArray().Select(r => r!.AsObject().Single().Key));
        Assert.NotNull(upload["responses"]!["401"]!["content"]!["application/problem+json"]);
        Assert.NotNull(upload["responses"]!["403"]);

        // Open by default: no requirement, no 401.
        JsonObject forecast = document["paths"]!["/v1/models/{name}/forecast"]!["post"]!.AsObject();
        Assert.Null(forecast["security"]);
        Assert.Null(forecast["responses"]!["401"]);
    }

    [Fact]
    public async Task Document_RequiresAKeyForInference_WhenInferenceIsLocked()
    {
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?> { ["Security:RequireKeyForInference"] = "true" });
        JsonObject forecast = (await DocumentAsync(factory))["paths"]!["/v1/models/{name}/forecast"]!["post"]!.AsObject();
        Assert.Equal(2, forecast["security"]!.AsArray().Count);
        Assert.Contains("infer", (string?)forecast["responses"]!["403"]!["description"]);
    }
}
