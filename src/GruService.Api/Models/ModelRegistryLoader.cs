using Microsoft.Extensions.Options;

namespace GruService.Api.Models;

/// <summary>
/// Loads the registry in the background after start-up, so the process answers liveness probes at once and
/// /readyz turns ready when every stored model is in memory.
/// </summary>
internal sealed class ModelRegistryLoader(ModelRegistry registry, IOptions<ModelOptions> options) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        string configured = options.Value.BundledDirectory;
        string? bundled = string.IsNullOrWhiteSpace(configured) ? null : Path.Combine(AppContext.BaseDirectory, configured);
        return registry.LoadAsync(bundled, stoppingToken);
    }
}
