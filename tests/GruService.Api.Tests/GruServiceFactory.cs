using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace GruService.Api.Tests;

/// <summary>
/// The real host over a fresh storage root, without bundled models unless asked, logging only warnings, with one API
/// key (<see cref="TestApiKey"/>, every scope) that every client it creates sends, and no drain delay on stopping.
/// Dispose removes the storage root unless it was handed in.
/// </summary>
public sealed class GruServiceFactory : WebApplicationFactory<Program>
{
    /// <summary>The key of the API key named "test", with scopes read, infer and manage.</summary>
    public const string TestApiKey = "test-key-0123456789abcdef";

    private readonly bool _ownsRoot;
    private readonly Dictionary<string, string?> _settings;

    public GruServiceFactory(string? storageRoot = null, IDictionary<string, string?>? settings = null)
    {
        _ownsRoot = storageRoot is null;
        StorageRoot = storageRoot ?? Directory.CreateTempSubdirectory("gru-api-tests-").FullName;
        _settings = new Dictionary<string, string?>
        {
            ["Storage:Root"] = StorageRoot,
            ["Models:BundledDirectory"] = "",
            // The level itself, not MinimumLevel:Default: the test host passes settings in a way that gives every
            // parent section an empty value, and Serilog reads MinimumLevel's own value first.
            ["Serilog:MinimumLevel"] = "Warning",
            ["Security:ApiKeys:test:Key"] = TestApiKey,
            ["Security:ApiKeys:test:Scopes:0"] = "read",
            ["Security:ApiKeys:test:Scopes:1"] = "infer",
            ["Security:ApiKeys:test:Scopes:2"] = "manage",
            // Stopping a test host must not wait for load balancers that are not there.
            ["Shutdown:DrainDelaySeconds"] = "0",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) _settings[key] = value;
    }

    public string StorageRoot { get; }

    /// <summary>False to start with no API key configured at all.</summary>
    public bool WithTestApiKey
    {
        init
        {
            if (value) return;
            foreach (string key in _settings.Keys.Where(k => k.StartsWith("Security:ApiKeys:test:", StringComparison.Ordinal)).ToList())
                _settings.Remove(key);
        }
    }

    /// <summary>Extra service registrations, applied after the application's own.</summary>
    public Action<IServiceCollection>? ConfigureTestServices { get; init; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in _settings) builder.UseSetting(key, value);
        if (ConfigureTestServices is { } configure) builder.ConfigureServices(configure);
    }

    /// <summary>Every client sends the test key unless the test takes it away (<see cref="CreateClientWithKey"/>).</summary>
    protected override void ConfigureClient(HttpClient client)
    {
        base.ConfigureClient(client);
        client.DefaultRequestHeaders.Add("X-Api-Key", TestApiKey);
    }

    /// <summary>A client that sends this key in X-Api-Key, or no key when it is null.</summary>
    public HttpClient CreateClientWithKey(string? apiKey)
    {
        HttpClient client = CreateClient();
        client.DefaultRequestHeaders.Remove("X-Api-Key");
        if (apiKey is not null) client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        return client;
    }

    /// <summary>A client whose first use waits until /readyz answers 200.</summary>
    public async Task<HttpClient> ReadyClientAsync()
    {
        HttpClient client = CreateClient();
        for (int i = 0; i < 200; i++)
        {
            if ((await client.GetAsync("/readyz")).IsSuccessStatusCode) return client;
            await Task.Delay(25);
        }
        throw new TimeoutException("The service did not become ready.");
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing && _ownsRoot)
        {
            try { Directory.Delete(StorageRoot, recursive: true); } catch (IOException) { }
        }
    }
}

public static class HttpTestExtensions
{
    public static Task<HttpResponseMessage> PutModelAsync(this HttpClient client, string name, byte[] file)
    {
        var content = new ByteArrayContent(file);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return client.PutAsync($"/v1/models/{name}", content);
    }

    public static Task<HttpResponseMessage> PostJsonAsync(this HttpClient client, string path, string json) =>
        client.PostAsync(path, new StringContent(json, Encoding.UTF8, "application/json"));

    public static async Task<JsonObject> JsonAsync(this HttpResponseMessage response) =>
        JsonNode.Parse(await response.Content.ReadAsStringAsync())!.AsObject();

    /// <summary>Asserts an RFC 7807 problem body with this status and reason; returns its detail.</summary>
    public static async Task<string> AssertProblemAsync(this HttpResponseMessage response, int status, string reason)
    {
        string body = await response.Content.ReadAsStringAsync();
        Assert.True((int)response.StatusCode == status, $"expected {status}, got {(int)response.StatusCode}: {body}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        JsonObject problem = JsonNode.Parse(body)!.AsObject();
        Assert.Equal(status, (int)problem["status"]!);
        Assert.Equal(reason, (string?)problem["reason"]);
        Assert.False(string.IsNullOrWhiteSpace((string?)problem["title"]));
        Assert.False(string.IsNullOrWhiteSpace((string?)problem["type"]), $"no type: {body}");
        return (string?)problem["detail"] ?? "";
    }

    public static string Serialize(float[][][] inputs) => JsonSerializer.Serialize(new { inputs });
}
