using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.Logging;

namespace GruService.Fuzz;

/// <summary>
/// The service's own Program (every middleware, filter and setting it ships with) behind a real Kestrel listener on
/// a loopback port, so each fuzzed request also goes through HTTP/1.1 framing, header parsing and body limits, not
/// the in-memory TestServer. It serves the bundled models from a fresh storage root, removed on dispose.
/// </summary>
public sealed class FuzzHost : WebApplicationFactory<Program>
{
    /// <summary>32 characters, sent as X-Api-Key on every request (required once API keys are enforced).</summary>
    public const string ApiKey = "fuzz-0123456789abcdef0123456789a";

    private readonly Dictionary<string, string?> _settings;

    public FuzzHost(IDictionary<string, string?>? settings = null)
    {
        StorageRoot = Directory.CreateTempSubdirectory("gru-fuzz-storage-").FullName;
        _settings = new Dictionary<string, string?>
        {
            ["Storage:Root"] = StorageRoot,
            ["Models:BundledDirectory"] = BundledModelsDirectory,
            ["Security:ApiKeys:fuzz:Key"] = ApiKey,
            ["Security:ApiKeys:fuzz:Scopes:0"] = "manage",
            ["Security:ApiKeys:fuzz:Scopes:1"] = "infer",
            ["Security:ApiKeys:fuzz:Scopes:2"] = "read",
            // Training jobs the fuzzer gets accepted are cancelled at once; a small queue keeps any that slip through cheap.
            ["Training:QueueCapacity"] = "4",
            ["Training:Threads"] = "1",
        };
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>()) _settings[key] = value;
        UseKestrel(0);
    }

    /// <summary>The models/ directory the build copies beside the service, with the bundled model files.</summary>
    public static string BundledModelsDirectory => Path.Combine(AppContext.BaseDirectory, "models");

    public string StorageRoot { get; }

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in _settings) builder.UseSetting(key, value);
        // Errors only (rejected uploads and bad requests are warnings, and a hundred thousand of them would drown
        // the output; unhandled exceptions are errors and still show), and on stderr, so stdout is the summary line.
        // Set here rather than through Serilog's keys: applied after the service's own logging set-up, it replaces it.
        builder.ConfigureLogging(logging =>
        {
            logging.ClearProviders();
            logging.AddConsole(console => console.LogToStandardErrorThreshold = LogLevel.Trace);
            logging.SetMinimumLevel(LogLevel.Error);
        });
    }

    /// <summary>A client of the Kestrel listener carrying the API key, once /readyz answers 200.</summary>
    public async Task<HttpClient> ReadyClientAsync(TimeSpan requestTimeout)
    {
        StartServer();
        HttpClient client = CreateClient();
        client.Timeout = requestTimeout;
        client.DefaultRequestHeaders.Add("X-Api-Key", ApiKey);
        client.DefaultRequestHeaders.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        for (int attempt = 0; attempt < 600; attempt++)
        {
            using HttpResponseMessage response = await client.GetAsync("/readyz");
            if (response.IsSuccessStatusCode) return client;
            await Task.Delay(50);
        }
        throw new TimeoutException("The service did not become ready within 30 s.");
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            try { Directory.Delete(StorageRoot, recursive: true); } catch (IOException) { }
        }
    }
}
