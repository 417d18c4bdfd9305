using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace GruService.Api.Tests;

/// <summary>
/// The service as a real process (the built GruService.Api.dll) on a free loopback port over one storage root, with
/// the test API key configured; it can be started again after it stops, on the same port and root.
/// </summary>
public sealed class ServiceProcess : IDisposable
{
    private readonly string[] _arguments;
    private readonly ConcurrentQueue<string> _output = new();

    public ServiceProcess(string storageRoot, params string[] arguments)
    {
        StorageRoot = storageRoot;
        _arguments = arguments;
        Port = FreePort();
        Client = new HttpClient { BaseAddress = BaseAddress };
        Client.DefaultRequestHeaders.Add("X-Api-Key", GruServiceFactory.TestApiKey);
    }

    public string StorageRoot { get; }
    public int Port { get; }
    public Uri BaseAddress => new($"http://127.0.0.1:{Port}");

    /// <summary>Sends the test key.</summary>
    public HttpClient Client { get; }

    public Process? Process { get; private set; }

    /// <summary>What the process wrote, for assertion messages.</summary>
    public string Output => string.Join('\n', _output);

    /// <summary>Starts the process and waits until /readyz answers 200.</summary>
    public async Task StartAsync()
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                Path.Combine(AppContext.BaseDirectory, "GruService.Api.dll"),
                "--urls", BaseAddress.ToString().TrimEnd('/'),
                $"--Storage:Root={StorageRoot}",
                "--Models:BundledDirectory=",
                "--Serilog:MinimumLevel=Warning",
                $"--Security:ApiKeys:test:Key={GruServiceFactory.TestApiKey}",
                "--Security:ApiKeys:test:Scopes:0=read",
                "--Security:ApiKeys:test:Scopes:1=infer",
                "--Security:ApiKeys:test:Scopes:2=manage",
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string argument in _arguments) start.ArgumentList.Add(argument);
        _output.Clear();
        Process = Process.Start(start)!;
        Process.OutputDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue(e.Data); };
        Process.ErrorDataReceived += (_, e) => { if (e.Data is not null) _output.Enqueue(e.Data); };
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
        for (int i = 0; i < 300; i++)
        {
            try
            {
                if ((await Client.GetAsync("/readyz")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            Assert.False(Process.HasExited, $"The service exited while starting:\n{Output}");
            await Task.Delay(100);
        }
        throw new TimeoutException($"The service did not become ready:\n{Output}");
    }

    /// <summary>SIGKILL: no shutdown code runs.</summary>
    public async Task KillAsync()
    {
        Process!.Kill(entireProcessTree: true);
        await Process.WaitForExitAsync();
    }

    /// <summary>SIGTERM, as an orchestrator stops a container (Process.Kill sends SIGKILL).</summary>
    public void Terminate() => SendSigterm(Process!);

    /// <summary>SIGTERM to <paramref name="process"/>: the signal whose shutdown the tests check.</summary>
    public static void SendSigterm(Process process)
    {
        using Process kill = Process.Start("kill", ["-TERM", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>A loopback port nothing listens on now.</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        if (Process is { HasExited: false }) Process.Kill(entireProcessTree: true);
        Process?.Dispose();
        Client.Dispose();
    }
}
