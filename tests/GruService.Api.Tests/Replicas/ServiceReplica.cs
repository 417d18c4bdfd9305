using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net;

namespace GruService.Api.Tests.Replicas;

/// <summary>
/// One replica of the service as a real process (the built GruService.Api.dll) on its own loopback port and staging
/// root, with shared settings (the database, the API key); it keeps its port across restarts, so the load balancer in
/// front needs no change.
/// </summary>
public sealed class ServiceReplica : IDisposable
{
    private readonly IReadOnlyList<string> _settings;
    private readonly ConcurrentQueue<string> _output = new();

    public ServiceReplica(string name, IReadOnlyList<string> settings)
    {
        Name = name;
        _settings = settings;
        Port = ServiceProcess.FreePort();
        StagingRoot = Directory.CreateTempSubdirectory($"gru-{name}-").FullName;
        Client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Port}"), Timeout = TimeSpan.FromSeconds(30) };
        Client.DefaultRequestHeaders.Add("X-Api-Key", MultiReplicaTests.ApiKey);
    }

    public string Name { get; }

    public int Port { get; }

    public string StagingRoot { get; }

    /// <summary>Straight to this replica, bypassing the load balancer.</summary>
    public HttpClient Client { get; }

    public Process? Process { get; private set; }

    /// <summary>The process's id, which the training worker's lease owner ("host/pid/guid") names.</summary>
    public int? ProcessId => Process is { HasExited: false } p ? p.Id : null;

    /// <summary>The last lines the process wrote, for failure messages.</summary>
    public string Output => string.Join('\n', _output);

    /// <summary>Starts the process (its own port and staging root, the shared settings) and waits for /readyz 200.</summary>
    public async Task StartAsync(TimeSpan timeout)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                Path.Combine(AppContext.BaseDirectory, "GruService.Api.dll"),
                "--urls", $"http://127.0.0.1:{Port}",
                $"--Storage:Root={StagingRoot}",
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (string setting in _settings) start.ArgumentList.Add(setting);
        Process?.Dispose();
        Process = Process.Start(start) ?? throw new InvalidOperationException("Could not start dotnet.");
        Process.OutputDataReceived += (_, e) => Keep(e.Data);
        Process.ErrorDataReceived += (_, e) => Keep(e.Data);
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
        await WaitReadyAsync(timeout);
    }

    /// <summary>SIGTERM, as an orchestrator stops a replica; waits for the process to exit by itself.</summary>
    public async Task StopAsync(TimeSpan timeout)
    {
        Process process = Process ?? throw new InvalidOperationException($"{Name} was never started.");
        // Process.Kill sends SIGKILL; the shutdown under test needs SIGTERM.
        ServiceProcess.SendSigterm(process);
        using var within = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(within.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"{Name} did not exit within {timeout.TotalSeconds} s of SIGTERM:\n{Output}");
        }
    }

    /// <summary>SIGKILL: no shutdown code runs, as when a node dies.</summary>
    public async Task KillAsync()
    {
        Process process = Process ?? throw new InvalidOperationException($"{Name} was never started.");
        process.Kill(entireProcessTree: true);
        await process.WaitForExitAsync();
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
                throw new InvalidOperationException($"{Name} exited with code {Process.ExitCode} while starting:\n{Output}");
            }
            try
            {
                using HttpResponseMessage response = await Client.GetAsync("/readyz");
                if (response.StatusCode == HttpStatusCode.OK) return;
                last = $"{(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}";
            }
            catch (HttpRequestException e)
            {
                last = e.Message; // not listening yet
            }
            await Task.Delay(100);
        }
        throw new TimeoutException($"{Name} was not ready within {timeout.TotalSeconds} s (last /readyz: {last}):\n{Output}");
    }

    private void Keep(string? line)
    {
        if (line is null) return;
        _output.Enqueue(line);
        while (_output.Count > 200) _output.TryDequeue(out _);
    }

    public void Dispose()
    {
        if (Process is { HasExited: false }) Process.Kill(entireProcessTree: true);
        Process?.Dispose();
        Client.Dispose();
        try { Directory.Delete(StagingRoot, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
