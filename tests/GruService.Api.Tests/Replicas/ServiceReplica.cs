using System.Diagnostics;

namespace GruService.Api.Tests.Replicas;

/// <summary>
/// One replica of the service (a <see cref="ServiceProcess"/>) on its own loopback port and staging root, with the
/// deployment's shared settings (the database, the API key); it keeps its port across restarts, so the load balancer
/// in front needs no change. Dispose removes the staging root.
/// </summary>
public sealed class ServiceReplica : IDisposable
{
    private readonly ServiceProcess _service;

    public ServiceReplica(string name, IReadOnlyList<string> settings)
    {
        Name = name;
        StagingRoot = Directory.CreateTempSubdirectory($"gru-{name}-").FullName;
        _service = ServiceProcess.WithSettings(name, StagingRoot, MultiReplicaTests.ApiKey, settings);
        _service.Client.Timeout = TimeSpan.FromSeconds(30);
    }

    public string Name { get; }

    public int Port => _service.Port;

    public string StagingRoot { get; }

    /// <summary>Straight to this replica, bypassing the load balancer.</summary>
    public HttpClient Client => _service.Client;

    public Process? Process => _service.Process;

    /// <summary>The process's id, which the training worker's lease owner ("host/pid/guid") names.</summary>
    public int? ProcessId => Process is { HasExited: false } p ? p.Id : null;

    /// <summary>The last lines the process wrote, for failure messages.</summary>
    public string Output => _service.Output;

    /// <summary>Starts the process and waits for /readyz 200.</summary>
    public Task StartAsync(TimeSpan timeout) => _service.StartAsync(timeout);

    /// <summary>SIGTERM, as an orchestrator stops a replica; waits for the process to exit by itself.</summary>
    public Task StopAsync(TimeSpan timeout) => _service.StopAsync(timeout);

    /// <summary>SIGKILL: no shutdown code runs, as when a node dies.</summary>
    public Task KillAsync() => _service.KillAsync();

    public void Dispose()
    {
        _service.Dispose();
        try { Directory.Delete(StagingRoot, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
