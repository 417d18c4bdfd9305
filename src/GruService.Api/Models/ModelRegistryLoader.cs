using Microsoft.Extensions.Options;

namespace GruService.Api.Models;

/// <summary>
/// Loads the registry in the background after start-up, so the process answers liveness probes at once and
/// /readyz turns ready when every stored model is in memory. While shared storage (the database) is unreachable it
/// keeps trying, and the service stays unready rather than serving an empty registry.
/// </summary>
internal sealed partial class ModelRegistryLoader(ModelRegistry registry, IOptions<ModelOptions> options, ILogger<ModelRegistryLoader> logger) : BackgroundService
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromSeconds(2);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        string configured = options.Value.BundledDirectory;
        string? bundled = string.IsNullOrWhiteSpace(configured) ? null : Path.Combine(AppContext.BaseDirectory, configured);
        while (true)
        {
            try
            {
                await registry.LoadAsync(bundled, stoppingToken);
                return;
            }
            catch (StorageUnavailableException e)
            {
                LogStorageUnavailable(e.Message, RetryDelay.TotalSeconds);
                await Task.Delay(RetryDelay, stoppingToken);
            }
        }
    }

    [LoggerMessage(LogLevel.Warning, "Cannot load the stored models yet: {Reason}; retrying in {Seconds} s")]
    private partial void LogStorageUnavailable(string reason, double seconds);
}
