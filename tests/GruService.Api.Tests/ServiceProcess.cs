using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace GruService.Api.Tests;

/// <summary>
/// The service as a real process (the built GruService.Api.dll) on a free loopback port over one storage root; it can
/// be started again after it stops, on the same port and root. By default it has the test API key and logs warnings
/// only; <see cref="WithSettings"/> gives it exactly the settings a test names (the replicas of one deployment).
/// </summary>
public sealed class ServiceProcess : IDisposable
{
    // Output beyond this many lines is dropped from the front: a replica under load logs every request.
    private const int KeptLines = 1000;

    private static readonly string[] TestSettings =
    [
        "--Models:BundledDirectory=",
        "--Serilog:MinimumLevel=Warning",
        $"--Security:ApiKeys:test:Key={GruServiceFactory.TestApiKey}",
        "--Security:ApiKeys:test:Scopes:0=read",
        "--Security:ApiKeys:test:Scopes:1=infer",
        "--Security:ApiKeys:test:Scopes:2=manage",
    ];

    private readonly string _name;
    private readonly IReadOnlyList<string> _settings;
    private readonly ConcurrentQueue<string> _output = new();

    /// <summary>The test API key, warnings only, no bundled models, then <paramref name="arguments"/>.</summary>
    public ServiceProcess(string storageRoot, params string[] arguments)
        : this("The service", storageRoot, GruServiceFactory.TestApiKey, [.. TestSettings, .. arguments])
    {
    }

    private ServiceProcess(string name, string storageRoot, string apiKey, IReadOnlyList<string> settings)
    {
        _name = name;
        _settings = settings;
        StorageRoot = storageRoot;
        Port = FreePort();
        Client = new HttpClient { BaseAddress = BaseAddress };
        Client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
    }

    /// <summary>A process named <paramref name="name"/> (in failure messages) with only these settings; its client sends <paramref name="apiKey"/>.</summary>
    public static ServiceProcess WithSettings(string name, string storageRoot, string apiKey, IReadOnlyList<string> settings) =>
        new(name, storageRoot, apiKey, settings);

    public string StorageRoot { get; }
    public int Port { get; }
    public Uri BaseAddress => new($"http://127.0.0.1:{Port}");

    /// <summary>Sends the API key.</summary>
    public HttpClient Client { get; }

    public Process? Process { get; private set; }

    /// <summary>What the process wrote (its last <see cref="KeptLines"/> lines), for assertion messages.</summary>
    public string Output => string.Join('\n', _output);

    /// <summary>Starts the process and waits until /readyz answers 200.</summary>
    public Task StartAsync() => StartAsync(TimeSpan.FromSeconds(30));

    /// <summary>Starts the process and waits up to <paramref name="timeout"/> for /readyz to answer 200.</summary>
    public async Task StartAsync(TimeSpan timeout)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                Path.Combine(AppContext.BaseDirectory, "GruService.Api.dll"),
                "--urls", BaseAddress.ToString().TrimEnd('/'),
                $"--Storage:Root={StorageRoot}",
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string setting in _settings) start.ArgumentList.Add(setting);
        _output.Clear();
        Process?.Dispose();
        Process = Process.Start(start) ?? throw new InvalidOperationException("Could not start dotnet.");
        Process.OutputDataReceived += (_, e) => Keep(e.Data);
        Process.ErrorDataReceived += (_, e) => Keep(e.Data);
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
        await WaitReadyAsync(timeout);
    }

    /// <summary>SIGTERM, as an orchestrator stops a container; waits up to <paramref name="timeout"/> for the process to exit by itself.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        Process process = Process ?? throw new InvalidOperationException($"{_name} was never started.");
        SendSigterm(process);
        using var within = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(within.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{_name} did not exit within {timeout.TotalSeconds} s of SIGTERM:\n{Output}");
        }
    }

    /// <summary>SIGKILL: no shutdown code runs, as when a node dies.</summary>
    public async Task KillAsync()
    {
        Process process = Process ?? throw new InvalidOperationException($"{_name} was never started.");
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, as an orchestrator stops a container (Process.Kill sends SIGKILL); does not wait.</summary>
    public void Terminate() => SendSigterm(Process!);

    /// <summary>SIGTERM to <paramref name="process"/>: the signal whose shutdown the tests check.</summary>
    public static void SendSigterm(Process process)
    {
        using Process kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>
    /// Sends <paramref name="request"/> as it is on a new connection and returns every byte the service sends back until
    /// it closes the connection (the last request should say Connection: close), waiting at most 30 s: what goes over
    /// the wire, which HttpClient and the test server would normalise.
    /// </summary>
    public async Task<byte[]> ExchangeRawAsync(byte[] request)
    {
        using var socket = new TcpClient();
        await socket.ConnectAsync(IPAddress.Loopback, Port);
        NetworkStream stream = socket.GetStream();
        await stream.WriteAsync(request);
        using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var received = new MemoryStream();
        await stream.CopyToAsync(received, bound.Token);
        return received.ToArray();
    }

    /// <summary>A loopback port nothing listens on now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private async Task WaitReadyAsync(TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        string last = "no answer";
        while (clock.Elapsed < timeout)
        {
            if (Process!.HasExited)
            {
                Process.WaitForExit(); // the rest of its output
                throw new InvalidOperationException($"{_name} exited with code {Process.ExitCode} while starting:\n{Output}");
            }
            // Each probe is bounded, so a port held by something that never answers does not hold the wait past the process's exit.
            using var probe = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                using HttpResponseMessage response = await Client.GetAsync("/readyz", probe.Token);
                if (response.StatusCode == HttpStatusCode.OK) return;
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync(probe.Token)}";
            }
            catch (HttpRequestException e)
            {
                last = e.Message; // not listening yet
            }
            catch (OperationCanceledException) when (probe.IsCancellationRequested)
            {
                last = "no answer within 2 s";
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"{_name} was not ready within {timeout.TotalSeconds} s (last /readyz: {last}):\n{Output}");
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        _output.Enqueue(line);
        while (_output.Count > KeptLines) _output.TryDequeue(out _);
    }

    public void Dispose()
    {
        if (Process is { HasExited: false }) Process.Kill(entireProcessTree: true);
        Process?.Dispose();
        Client.Dispose();
    }
}
