using System.Net;

namespace GruService.Api.Tests.Security;

public sealed class SecurityHeadersTests : IClassFixture<SecurityHeadersTests.Service>
{
    public sealed class Service : IDisposable
    {
        public GruServiceFactory Factory { get; } = new();
        public void Dispose() => Factory.Dispose();
    }

    private readonly GruServiceFactory _factory;

    public SecurityHeadersTests(Service service) => _factory = service.Factory;

    private static void AssertCommonHeaders(HttpResponseMessage response)
    {
        Assert.Equal("nosniff", Assert.Single(response.Headers.GetValues("X-Content-Type-Options")));
        Assert.Equal("DENY", Assert.Single(response.Headers.GetValues("X-Frame-Options")));
        Assert.Equal("no-referrer", Assert.Single(response.Headers.GetValues("Referrer-Policy")));
    }

    [Theory]
    [InlineData("/v1/models", HttpStatusCode.OK)]
    [InlineData("/v1/models/nobody", HttpStatusCode.NotFound)]
    [InlineData("/no/such/path", HttpStatusCode.NotFound)]
    [InlineData("/readyz", HttpStatusCode.OK)]
    public async Task ApiAnswers_CarrySecurityHeaders_AStrictCsp_AndNoStore(string path, HttpStatusCode status)
    {
        HttpResponseMessage response = await _factory.CreateClient().GetAsync(path);
        Assert.Equal(status, response.StatusCode);
        AssertCommonHeaders(response);
        Assert.StartsWith("default-src 'none'", Assert.Single(response.Headers.GetValues("Content-Security-Policy")));
        Assert.True(response.Headers.CacheControl?.NoStore, "Cache-Control: no-store");
    }

    [Fact]
    public async Task Refusals_CarrySecurityHeaders()
    {
        HttpResponseMessage response = await _factory.CreateClientWithKey(null).DeleteAsync("/v1/models/demand");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        AssertCommonHeaders(response);
    }

    [Fact]
    public async Task SwaggerUi_GetsACspThatLetsItLoadItsOwnScriptsStylesAndDocument()
    {
        HttpResponseMessage page = await _factory.CreateClientWithKey(null).GetAsync("/swagger/index.html");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        AssertCommonHeaders(page);
        string csp = Assert.Single(page.Headers.GetValues("Content-Security-Policy"));
        Assert.Contains("script-src 'self'", csp);
        Assert.Contains("style-src 'self' 'unsafe-inline'", csp);
        Assert.Contains("connect-src 'self'", csp);
        Assert.Contains("frame-ancestors 'none'", csp);
        Assert.DoesNotContain("unsafe-eval", csp);
        // The page has no inline script for the policy to block: every script is a file from this origin.
        string html = await page.Content.ReadAsStringAsync();
        Assert.DoesNotMatch(@"<script(?![^>]*\bsrc=)[^>]*>", html);
    }

    [Fact]
    public async Task Cors_IsOff_UnlessConfigured()
    {
        HttpResponseMessage response = await _factory.CreateClient().SendAsync(Preflight("https://app.example"));
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task Cors_AllowsConfiguredOriginsOnly_WithTheApiKeyHeader()
    {
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?> { ["Cors:AllowedOrigins:0"] = "https://app.example" });
        HttpClient client = factory.CreateClient();
        HttpResponseMessage allowed = await client.SendAsync(Preflight("https://app.example"));
        Assert.Equal("https://app.example", Assert.Single(allowed.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Contains("x-api-key", string.Join(',', allowed.Headers.GetValues("Access-Control-Allow-Headers")), StringComparison.OrdinalIgnoreCase);
        HttpResponseMessage refused = await client.SendAsync(Preflight("https://evil.example"));
        Assert.False(refused.Headers.Contains("Access-Control-Allow-Origin"));
    }

    private static HttpRequestMessage Preflight(string origin)
    {
        var request = new HttpRequestMessage(HttpMethod.Options, "/v1/models/demand");
        request.Headers.Add("Origin", origin);
        request.Headers.Add("Access-Control-Request-Method", "PUT");
        request.Headers.Add("Access-Control-Request-Headers", "x-api-key,content-type");
        return request;
    }
}
