using System.Net;

namespace GruService.Api.Tests.Security;

public sealed class RateLimitingTests
{
    /// <summary>One permit a second and a bucket of one: of ten requests sent back to back, some must be refused.</summary>
    private static GruServiceFactory Limited() => new(settings: ApiKeyTests.Keys(new()
    {
        ["RateLimiting:PermitsPerSecond"] = "1",
        ["RateLimiting:Burst"] = "1",
    }));

    private static async Task<HttpResponseMessage> FirstRefusedAsync(HttpClient client, string path = "/v1/models")
    {
        for (int i = 0; i < 10; i++)
        {
            HttpResponseMessage response = await client.GetAsync(path);
            if (response.StatusCode == HttpStatusCode.TooManyRequests) return response;
        }
        throw new Xunit.Sdk.XunitException("Ten requests in a row were all let through by a limiter of one a second.");
    }

    [Fact]
    public async Task RateLimiter_Returns429WithRetryAfter_WhenPermitsRunOut()
    {
        using GruServiceFactory factory = Limited();
        HttpResponseMessage refused = await FirstRefusedAsync(factory.CreateClient());
        string detail = await refused.AssertProblemAsync(429, "rate_limited");
        Assert.Contains("RateLimiting:PermitsPerSecond", detail);
        Assert.Contains("key test", detail);
        TimeSpan? retryAfter = refused.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.True(retryAfter >= TimeSpan.FromSeconds(1), $"Retry-After {retryAfter}");
    }

    [Fact]
    public async Task RateLimiter_GivesEachKeyItsOwnPermits()
    {
        using GruServiceFactory factory = Limited();
        await FirstRefusedAsync(factory.CreateClient());
        using HttpClient reader = factory.CreateClientWithKey(ApiKeyTests.ReaderKey);
        Assert.Equal(HttpStatusCode.OK, (await reader.GetAsync("/v1/models")).StatusCode);
    }

    [Fact]
    public async Task RateLimiter_NeverLimitsProbesOrMetrics()
    {
        using GruServiceFactory factory = Limited();
        HttpClient client = factory.CreateClient();
        await FirstRefusedAsync(client);
        for (int i = 0; i < 5; i++)
        {
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/metrics")).StatusCode);
        }
    }

    [Fact]
    public async Task RateLimiter_LetsEverythingThrough_WhenDisabled()
    {
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?>
        {
            ["RateLimiting:Enabled"] = "false",
            ["RateLimiting:PermitsPerSecond"] = "1",
            ["RateLimiting:Burst"] = "1",
        });
        HttpClient client = factory.CreateClient();
        for (int i = 0; i < 10; i++)
            Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/v1/models")).StatusCode);
    }
}
