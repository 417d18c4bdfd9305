using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using GruService.Api.Security;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace GruService.Api.Tests.Security;

/// <summary>Keys, scopes and which endpoints need them, with the default switches.</summary>
public sealed class ApiKeyTests() : ServiceTestBase(Keys())
{
    public const string ReaderKey = "reader-key-0123456789abcdef";
    public const string InfererKey = "inferer-key-0123456789abcdef";

    /// <summary>Three keys: "test" (every scope, the fixture's), "reader" (read), "inferer" (infer).</summary>
    public static Dictionary<string, string?> Keys(Dictionary<string, string?>? more = null)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Security:ApiKeys:reader:Key"] = ReaderKey,
            ["Security:ApiKeys:reader:Scopes:0"] = "read",
            ["Security:ApiKeys:inferer:Key"] = InfererKey,
            ["Security:ApiKeys:inferer:Scopes:0"] = "infer",
        };
        foreach (var (key, value) in more ?? []) settings[key] = value;
        return settings;
    }

    private HttpClient _anonymous = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _anonymous = Factory.CreateClientWithKey(null);
    }

    [Fact]
    public async Task UploadModel_Returns401_WithoutKey()
    {
        HttpResponseMessage response = await _anonymous.PutModelAsync("demand", ReferenceModel.Load(8).File);
        string detail = await response.AssertProblemAsync(401, "missing_api_key");
        Assert.Contains("X-Api-Key", detail);
        string[] challenges = [.. response.Headers.WwwAuthenticate.Select(h => h.Scheme)];
        Assert.Contains("Bearer", challenges);
        Assert.Contains("ApiKey", challenges);
        Assert.Equal(HttpStatusCode.NotFound, (await _anonymous.GetAsync("/v1/models/demand")).StatusCode);
    }

    [Fact]
    public async Task UploadModel_Returns401_ForAKeyThatIsNotConfigured()
    {
        using HttpClient client = Factory.CreateClientWithKey("not-a-configured-key-0123456789");
        HttpResponseMessage response = await client.PutModelAsync("demand", ReferenceModel.Load(8).File);
        string detail = await response.AssertProblemAsync(401, "invalid_api_key");
        Assert.DoesNotContain("not-a-configured-key", detail);
        Assert.NotEmpty(response.Headers.WwwAuthenticate);
    }

    [Fact]
    public async Task UploadModel_Returns403_ForInferOnlyKey()
    {
        using HttpClient client = Factory.CreateClientWithKey(InfererKey);
        string detail = await (await client.PutModelAsync("demand", ReferenceModel.Load(8).File)).AssertProblemAsync(403, "insufficient_scope");
        Assert.Contains("'inferer'", detail);
        Assert.Contains("[manage]", detail);
        Assert.DoesNotContain(InfererKey, detail);
    }

    [Fact]
    public async Task UploadModel_Returns403_ForReadOnlyKey()
    {
        using HttpClient client = Factory.CreateClientWithKey(ReaderKey);
        await (await client.PutModelAsync("demand", ReferenceModel.Load(8).File)).AssertProblemAsync(403, "insufficient_scope");
    }

    [Fact]
    public async Task UploadModel_Succeeds_WithTheKeyAsABearerToken()
    {
        using HttpClient client = Factory.CreateClientWithKey(null);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", GruServiceFactory.TestApiKey);
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("demand", ReferenceModel.Load(8).File)).StatusCode);
    }

    [Fact]
    public async Task UploadModel_Returns401_ForABearerTokenThatIsNotAKey()
    {
        using HttpClient client = Factory.CreateClientWithKey(null);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", GruServiceFactory.TestApiKey + "x");
        await (await client.PutModelAsync("demand", ReferenceModel.Load(8).File)).AssertProblemAsync(401, "invalid_api_key");
    }

    public static TheoryData<string, string> ManageEndpoints => new()
    {
        { "PUT", "/v1/models/demand" },
        { "POST", "/v1/models/demand/versions/1/activate" },
        { "DELETE", "/v1/models/demand" },
        { "POST", "/v1/datasets" },
        { "DELETE", "/v1/datasets/abc" },
        { "POST", "/v1/training-jobs" },
        { "POST", "/v1/training-jobs/job-1/cancel" },
        { "DELETE", "/v1/training-jobs/job-1" },
    };

    [Theory]
    [MemberData(nameof(ManageEndpoints))]
    public async Task ManageEndpoints_Return401_WithoutKey_And403_ForReadOnlyKey(string method, string path)
    {
        await (await _anonymous.SendAsync(new HttpRequestMessage(new HttpMethod(method), path))).AssertProblemAsync(401, "missing_api_key");
        using HttpClient reader = Factory.CreateClientWithKey(ReaderKey);
        await (await reader.SendAsync(new HttpRequestMessage(new HttpMethod(method), path))).AssertProblemAsync(403, "insufficient_scope");
    }

    [Theory]
    [InlineData("/v1/models")]
    [InlineData("/v1/datasets")]
    [InlineData("/v1/training-jobs")]
    [InlineData("/openapi/v1.json")]
    [InlineData("/metrics")]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task ReadsDocsMetricsAndProbes_AreOpen_ByDefault(string path)
    {
        Assert.Equal(HttpStatusCode.OK, (await _anonymous.GetAsync(path)).StatusCode);
    }

    [Fact]
    public async Task Inference_IsOpen_ByDefault()
    {
        Assert.Equal(HttpStatusCode.Created, (await Factory.CreateClient().PutModelAsync("demand", ReferenceModel.Load(8).File)).StatusCode);
        ReferenceModel model = ReferenceModel.Load(8);
        HttpResponseMessage response = await _anonymous.PostJsonAsync("/v1/models/demand/forecast", HttpTestExtensions.Serialize(model.Inputs));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Inference_IsOpen_ByDefault_EvenWithAKeyThatIsNotConfigured()
    {
        Assert.Equal(HttpStatusCode.Created, (await Client.PutModelAsync("demand", ReferenceModel.Load(8).File)).StatusCode);
        using HttpClient unknown = Factory.CreateClientWithKey("not-a-configured-key-0123456789");
        HttpResponseMessage response = await unknown.PostJsonAsync("/v1/models/demand/forecast", HttpTestExtensions.Serialize(ReferenceModel.Load(8).Inputs));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public void OpenEndpoints_CarryNoAuthorizationPolicy_AndManageEndpointsCarryTheirs()
    {
        Assert.Empty(ApiKeyEndpoints.Policies(Factory, "POST", "/v1/models/{name}/forecast"));
        Assert.Empty(ApiKeyEndpoints.Policies(Factory, "GET", "/v1/models/"));
        Assert.Equal([ApiKeyPolicies.Manage], ApiKeyEndpoints.Policies(Factory, "PUT", "/v1/models/{name}"));
    }

    [Fact]
    public void KeyRing_FindsAKeyOnlyByItsWholeValue()
    {
        var options = Options.Create(new SecurityOptions
        {
            ApiKeys =
            {
                ["a"] = new ApiKeyOptions { Key = "aaaaaaaaaaaaaaaa-1", Scopes = ["read"] },
                ["b"] = new ApiKeyOptions { Key = "bbbbbbbbbbbbbbbb-2", Scopes = ["manage"] },
            },
        });
        var ring = new ApiKeyRing(options);
        Assert.Equal("b", ring.Find("bbbbbbbbbbbbbbbb-2")?.Name);
        Assert.Equal(["read"], ring.Find("aaaaaaaaaaaaaaaa-1")!.Scopes);
        Assert.Null(ring.Find("bbbbbbbbbbbbbbbb-"));
        Assert.Null(ring.Find("bbbbbbbbbbbbbbbb-22"));
        Assert.Null(ring.Find(""));
    }
}

/// <summary>The Security:RequireKeyFor* switches lock reads, inference, docs and metrics; probes stay open.</summary>
public sealed class ApiKeyLockedTests() : ServiceTestBase(KeysAndLocks)
{
    private static readonly Dictionary<string, string?> KeysAndLocks = ApiKeyTests.Keys(new()
    {
        ["Security:RequireKeyForReads"] = "true",
        ["Security:RequireKeyForInference"] = "true",
        ["Security:RequireKeyForDocs"] = "true",
        ["Security:RequireKeyForMetrics"] = "true",
    });
    private HttpClient _anonymous = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        Assert.Equal(HttpStatusCode.Created, (await Client.PutModelAsync("demand", ReferenceModel.Load(8).File)).StatusCode);
        _anonymous = Factory.CreateClientWithKey(null);
    }

    [Theory]
    [InlineData("/v1/models")]
    [InlineData("/v1/models/demand")]
    [InlineData("/v1/models/demand/versions")]
    [InlineData("/v1/datasets")]
    [InlineData("/v1/training-jobs")]
    [InlineData("/openapi/v1.json")]
    [InlineData("/metrics")]
    public async Task LockedReads_Return401_WithoutKey_403_ForInferOnlyKey_And200_ForReadOrManage(string path)
    {
        await (await _anonymous.GetAsync(path)).AssertProblemAsync(401, "missing_api_key");
        using HttpClient inferer = Factory.CreateClientWithKey(ApiKeyTests.InfererKey);
        await (await inferer.GetAsync(path)).AssertProblemAsync(403, "insufficient_scope");
        using HttpClient reader = Factory.CreateClientWithKey(ApiKeyTests.ReaderKey);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync(path)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await Factory.CreateClient().GetAsync(path)).StatusCode);
    }

    [Fact]
    public async Task LockedInference_Returns401_WithoutKey_403_ForReadOnlyKey_And200_ForInferKey()
    {
        string body = HttpTestExtensions.Serialize(ReferenceModel.Load(8).Inputs);
        await (await _anonymous.PostJsonAsync("/v1/models/demand/forecast", body)).AssertProblemAsync(401, "missing_api_key");
        using HttpClient reader = Factory.CreateClientWithKey(ApiKeyTests.ReaderKey);
        string detail = await (await reader.PostJsonAsync("/v1/models/demand/forecast", body)).AssertProblemAsync(403, "insufficient_scope");
        Assert.Contains("[infer]", detail);
        using HttpClient inferer = Factory.CreateClientWithKey(ApiKeyTests.InfererKey);
        Assert.Equal(HttpStatusCode.OK, (await inferer.PostJsonAsync("/v1/models/demand/forecast", body)).StatusCode);
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task Probes_StayOpen_WhenEverythingElseIsLocked(string path)
    {
        Assert.Equal(HttpStatusCode.OK, (await _anonymous.GetAsync(path)).StatusCode);
    }

    [Fact]
    public async Task SwaggerUiPage_StaysServed_WhenDocsAreLocked()
    {
        Assert.Equal(HttpStatusCode.OK, (await _anonymous.GetAsync("/swagger/index.html")).StatusCode);
    }

    [Fact]
    public void LockedEndpoints_CarryTheirPolicies()
    {
        Assert.Equal([ApiKeyPolicies.Infer], ApiKeyEndpoints.Policies(Factory, "POST", "/v1/models/{name}/forecast"));
        Assert.Equal([ApiKeyPolicies.Read], ApiKeyEndpoints.Policies(Factory, "GET", "/v1/models/"));
        Assert.Equal([ApiKeyPolicies.Metrics], ApiKeyEndpoints.Policies(Factory, "GET", "/metrics"));
    }
}

/// <summary>What the routing table says an endpoint requires.</summary>
internal static class ApiKeyEndpoints
{
    /// <summary>The authorization policies of the endpoint for this method and route pattern.</summary>
    public static string[] Policies(GruServiceFactory factory, string method, string pattern)
    {
        RouteEndpoint endpoint = factory.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>()
            .Single(e => e.RoutePattern.RawText == pattern && e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods.Contains(method) == true);
        return [.. endpoint.Metadata.GetOrderedMetadata<IAuthorizeData>().Select(data => data.Policy ?? "(default)")];
    }
}

public sealed class ApiKeyConfigurationTests
{
    [Fact]
    public async Task ManageEndpoints_Return401_SayingHowToConfigureKeys_WhenNoneAreConfigured()
    {
        using var factory = new GruServiceFactory { WithTestApiKey = false };
        HttpClient client = await factory.ReadyClientAsync();
        string detail = await (await client.PutModelAsync("demand", ReferenceModel.Load(8).File)).AssertProblemAsync(401, "api_keys_not_configured");
        Assert.Contains("Security:ApiKeys:{name}:Key", detail);
        Assert.Contains("docs/security.md", detail);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/models")).StatusCode);
    }

    [Fact]
    public async Task ManageEndpoints_AreOpen_WhenRequireKeyForManageIsOff()
    {
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?> { ["Security:RequireKeyForManage"] = "false" }) { WithTestApiKey = false };
        HttpClient client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("demand", ReferenceModel.Load(8).File)).StatusCode);
    }

    [Theory]
    [InlineData("short-key", "read", "at least 16")]
    [InlineData("a-long-enough-key-123", "admin", "unknown scope 'admin'")]
    [InlineData("a-long-enough-key-123", null, "Scopes is empty")]
    [InlineData("a long enough key with spaces", "read", "printable ASCII")]
    public void StartUp_RefusesABadKey_WithAClearMessage_ThatDoesNotContainTheKey(string key, string? scope, string message)
    {
        var settings = new Dictionary<string, string?> { ["Security:ApiKeys:ci:Key"] = key };
        if (scope is not null) settings["Security:ApiKeys:ci:Scopes:0"] = scope;
        using var factory = new GruServiceFactory(settings: settings);
        var failure = Assert.Throws<OptionsValidationException>(() => factory.CreateClient());
        Assert.Contains("Security:ApiKeys:ci:", failure.Message);
        Assert.Contains(message, failure.Message);
        Assert.DoesNotContain(key, failure.Message);
    }

    [Fact]
    public void StartUp_RefusesTwoNamesWithTheSameKey()
    {
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?>
        {
            ["Security:ApiKeys:copy:Key"] = GruServiceFactory.TestApiKey,
            ["Security:ApiKeys:copy:Scopes:0"] = "read",
        });
        var failure = Assert.Throws<OptionsValidationException>(() => factory.CreateClient());
        Assert.Contains("the same as", failure.Message);
        Assert.DoesNotContain(GruServiceFactory.TestApiKey, failure.Message);
    }
}
