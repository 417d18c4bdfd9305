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

    [Fact]
    public async Task Document_Lists429WithRetryAfter_OnEveryRateLimitedOperation()
    {
        using var factory = new GruServiceFactory();
        string[] unlimited = ["/healthz", "/readyz", "/metrics"];
        foreach ((string path, JsonNode? item) in (await DocumentAsync(factory))["paths"]!.AsObject())
        {
            foreach ((string method, JsonNode? operation) in item!.AsObject())
            {
                JsonNode? tooMany = operation!["responses"]!["429"];
                if (unlimited.Contains(path))
                {
                    Assert.True(tooMany is null, $"{method} {path} is never rate limited but lists a 429");
                    continue;
                }
                Assert.True(tooMany?["content"]?["application/problem+json"] is not null, $"{method} {path} lists no 429 problem");
                Assert.Contains("rate_limited", (string?)tooMany!["description"]);
                Assert.NotNull(tooMany["headers"]?["Retry-After"]);
            }
        }
    }

    [Fact]
    public async Task Document_ListsNoRateLimit429_WhenRateLimitingIsOff()
    {
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?> { ["RateLimiting:Enabled"] = "false" });
        JsonObject paths = (await DocumentAsync(factory))["paths"]!.AsObject();
        Assert.Null(paths["/v1/models"]!["get"]!["responses"]!["429"]);
        // The training queue's own 429 stays.
        JsonNode queueFull = paths["/v1/training-jobs"]!["post"]!["responses"]!["429"]!;
        Assert.DoesNotContain("rate_limited", (string?)queueFull["description"]);
    }
}
