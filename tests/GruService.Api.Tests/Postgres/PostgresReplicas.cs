using System.Diagnostics;
using System.Text.Json.Nodes;

namespace GruService.Api.Tests.Postgres;

/// <summary>Service instances on one PostgreSQL database, as replicas behind a load balancer would be.</summary>
internal static class PostgresReplicas
{
    /// <summary>
    /// A replica of the service on <paramref name="connectionString"/>, with leases, heartbeats and polls short enough
    /// for a test to watch a takeover (lease 2 s).
    /// </summary>
    public static GruServiceFactory Start(string connectionString, IDictionary<string, string?>? settings = null)
    {
        var all = new Dictionary<string, string?>
        {
            ["Storage:Provider"] = "Postgres",
            ["Storage:Postgres:ConnectionString"] = connectionString,
            ["Storage:Postgres:LeaseSeconds"] = "2",
            ["Storage:Postgres:HeartbeatSeconds"] = "0.5",
            ["Storage:Postgres:PollSeconds"] = "0.25",
            ["Training:ProgressIntervalSeconds"] = "0",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) all[key] = value;
        return new GruServiceFactory(settings: all);
    }

    /// <summary>Polls until <paramref name="done"/> holds for the JSON at <paramref name="path"/>; fails after <paramref name="seconds"/>.</summary>
    public static async Task<(JsonObject Body, TimeSpan Elapsed)> WaitForAsync(HttpClient client, string path, Func<HttpResponseMessage, JsonObject?, bool> done, double seconds)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            HttpResponseMessage response = await client.GetAsync(path);
            string text = await response.Content.ReadAsStringAsync();
            JsonObject? body = text.StartsWith('{') ? JsonNode.Parse(text)!.AsObject() : null;
            if (done(response, body)) return (body ?? [], clock.Elapsed);
            if (clock.Elapsed.TotalSeconds > seconds)
                throw new TimeoutException($"GET {path} did not get there in {seconds} s; last answer {(int)response.StatusCode}: {text}");
            await Task.Delay(20);
        }
    }
}
