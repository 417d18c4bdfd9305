namespace GruService.Api.Health;

/// <summary>
/// <c>GruService.Api --healthcheck [URL]</c>: GETs the running service's liveness probe and exits 0 on 200, 1 otherwise,
/// without starting a web host. It lets a container HEALTHCHECK probe the service with the app itself, so the runtime
/// image needs no curl or wget (nor a shell). URL defaults to /healthz on the first of ASPNETCORE_HTTP_PORTS (the
/// port the container listens on), else 8080, on the loopback address.
/// </summary>
public static class HealthCheckCommand
{
    public const string Flag = "--healthcheck";
    public const int DefaultPort = 8080;

    /// <summary>Docker's own default HEALTHCHECK timeout is 30 s; a probe that hangs longer than this is a failure anyway.</summary>
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(10);

    public static bool IsRequested(string[] args) => args.Length > 0 && args[0] == Flag;

    /// <summary>Probes the URL after the flag, or the default one; returns the process exit code.</summary>
    public static Task<int> RunAsync(string[] args)
    {
        if (args.Length == 1) return ProbeAsync(DefaultUrl(Environment.GetEnvironmentVariable("ASPNETCORE_HTTP_PORTS")), Console.Out, Console.Error);
        if (args.Length == 2 && Uri.TryCreate(args[1], UriKind.Absolute, out Uri? url)) return ProbeAsync(url, Console.Out, Console.Error);
        Console.Error.WriteLine($"usage: GruService.Api {Flag} [http://127.0.0.1:{DefaultPort}/healthz]");
        return Task.FromResult(2);
    }

    /// <summary>http://127.0.0.1:PORT/healthz, PORT being the first of ASPNETCORE_HTTP_PORTS ("8080" or "8080;8081").</summary>
    public static Uri DefaultUrl(string? httpPorts)
    {
        string? first = httpPorts?.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).FirstOrDefault();
        int port = int.TryParse(first, out int parsed) ? parsed : DefaultPort;
        return new Uri($"http://127.0.0.1:{port}/healthz");
    }

    /// <summary>One GET; 0 when it answers 200, 1 on any other status, a refused connection or a timeout.</summary>
    /// <param name="url">What to GET.</param>
    /// <param name="output">Where the healthy line goes.</param>
    /// <param name="error">Where the unhealthy line goes.</param>
    /// <param name="handler">Where the request goes; a socket handler when null (tests pass an in-memory server's).</param>
    public static async Task<int> ProbeAsync(Uri url, TextWriter output, TextWriter error, HttpMessageHandler? handler = null)
    {
        using var client = handler is null ? new HttpClient() : new HttpClient(handler, disposeHandler: false);
        client.Timeout = Timeout;
        try
        {
            using HttpResponseMessage response = await client.GetAsync(url);
            int status = (int)response.StatusCode;
            // One line each way: Docker keeps the probe's output in `docker inspect` health logs.
            if (status == StatusCodes.Status200OK)
            {
                output.WriteLine($"healthy: {url} answered {status}");
                return 0;
            }
            error.WriteLine($"unhealthy: {url} answered {status}");
            return 1;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
        {
            error.WriteLine($"unhealthy: {url} did not answer: {e.Message}");
            return 1;
        }
    }
}
