using System.Net;
using System.Text.RegularExpressions;
using GruService.Api.Observability;

namespace GruService.Api.Tests.Observability;

/// <summary>GET /metrics on the real service, hosted in memory.</summary>
public sealed partial class MetricsEndpointTests
{
    [Fact]
    public async Task GetMetrics_AfterARequest_ExportsRequestRuntimeAndConnectionMetrics()
    {
        await using var factory = CreateFactory();
        using var client = factory.CreateClient();

        // The first scrape is the request being measured; its duration is recorded once it has completed.
        (await client.GetAsync("/metrics")).EnsureSuccessStatusCode();
        string text = await ScrapeUntilAsync(client, text => RequestDurationBucket(text, "/metrics") is not null);

        string bucket = RequestDurationBucket(text, "/metrics")!;
        Assert.Contains("http_request_method=\"GET\"", bucket);
        Assert.Contains("http_response_status_code=\"200\"", bucket);
        Assert.Contains("le=\"0.005\"", bucket); // ASP.NET Core's advised boundaries, not the defaults
        Assert.Contains("# TYPE http_server_request_duration_seconds histogram\n", text);
        Assert.Contains("# TYPE http_server_active_requests gauge\n", text);
        Assert.Matches(ActiveRequestsSample(), text);
        Assert.Matches(RuntimeSample(), text);
    }

    [Fact]
    public async Task GetMetrics_AnswersWithPrometheusTextContentType()
    {
        await using var factory = CreateFactory();
        using var client = factory.CreateClient();

        using var response = await client.GetAsync("/metrics");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(PrometheusExporter.ContentType, Assert.Single(response.Content.Headers.GetValues("Content-Type")));
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", PrometheusExporter.ContentType);
    }

    [Fact]
    public async Task GetMetrics_LiveScrape_PassesPromtool()
    {
        await using var factory = CreateFactory();
        using var client = factory.CreateClient();
        (await client.GetAsync("/metrics")).EnsureSuccessStatusCode();
        string text = await ScrapeUntilAsync(client, text => RequestDurationBucket(text, "/metrics") is not null);

        var (exitCode, output) = Promtool.CheckMetrics(text);

        Assert.True(exitCode == 0 && output.Length == 0, $"promtool exit code {exitCode}:\n{output}\n\nInput:\n{text}");
        // The runtime gauges whose OpenTelemetry names end in a reserved suffix are exported with "_value" appended.
        Assert.Contains("\ndotnet_assembly_count_value ", text);
    }

    [Fact]
    public async Task GetMetrics_CountsOnlyThisHostsRequests()
    {
        // Both hosts are listening before the busy one serves its requests.
        await using var quietHost = CreateFactory();
        using var quietClient = quietHost.CreateClient();
        await using var busyHost = CreateFactory();
        using var busyClient = busyHost.CreateClient();
        for (int i = 0; i < 20; i++)
            (await busyClient.GetAsync("/metrics")).EnsureSuccessStatusCode();

        int scrapes = 0;
        string text = await ScrapeUntilAsync(quietClient, text =>
        {
            scrapes++;
            return RequestCount(text, "/metrics") is not null;
        });

        // Every earlier scrape of this host may have been counted, but none of the other host's requests.
        Assert.InRange(RequestCount(text, "/metrics")!.Value, 1, scrapes - 1);
    }

    // Each host gets its own storage root; one factory, not a WithWebHostBuilder child whose unreferenced parent
    // could be finalized (disposing the child's server) while a test still uses it.
    private static GruServiceFactory CreateFactory() => new();

    /// <summary>Scrapes until <paramref name="done"/> holds: a request's duration is recorded just after its response is sent.</summary>
    private static async Task<string> ScrapeUntilAsync(HttpClient client, Func<string, bool> done)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            string text = await client.GetStringAsync("/metrics");
            if (done(text))
                return text;
            Assert.True(DateTime.UtcNow < deadline, $"/metrics never showed what the test waited for:\n{text}");
            await Task.Delay(20);
        }
    }

    private static string? RequestDurationBucket(string text, string route) =>
        text.Split('\n').FirstOrDefault(line =>
            line.StartsWith("http_server_request_duration_seconds_bucket{", StringComparison.Ordinal)
            && line.Contains($"http_route=\"{route}\"", StringComparison.Ordinal));

    /// <summary>Requests completed on the route, over all methods and status codes; null before the first.</summary>
    private static long? RequestCount(string text, string route)
    {
        long[] counts = text.Split('\n')
            .Where(line => line.StartsWith("http_server_request_duration_seconds_count{", StringComparison.Ordinal)
                && line.Contains($"http_route=\"{route}\"", StringComparison.Ordinal))
            .Select(line => long.Parse(line[(line.LastIndexOf(' ') + 1)..]))
            .ToArray();
        return counts.Length == 0 ? null : counts.Sum();
    }

    [GeneratedRegex(@"(?m)^http_server_active_requests\{[^}]*http_request_method=""GET""[^}]*\} \d+$")]
    private static partial Regex ActiveRequestsSample();

    [GeneratedRegex(@"(?m)^dotnet_(gc|process|thread_pool)_\w+(\{[^}]*\})? \S+$")]
    private static partial Regex RuntimeSample();
}
