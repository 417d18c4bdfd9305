using System.Diagnostics.Metrics;
using GruService.Api.Hosting;
using GruService.Api.Security;

namespace GruService.Api.Observability;

public static class MetricsExtensions
{
    /// <summary>
    /// Registers <see cref="IMeterFactory"/> and the <see cref="PrometheusExporter"/> singleton, which the host
    /// constructs, and so starts listening, as it starts. The container disposes it, and its listener, with the host.
    /// The service's own meters ("GruService", "GruService.*") are exported only when created through the injected
    /// IMeterFactory (see <see cref="PrometheusExporter"/>).
    /// </summary>
    public static IServiceCollection AddGruMetrics(this IServiceCollection services)
    {
        services.AddMetrics();
        services.AddSingleton<PrometheusExporter>();
        services.AddHostedService<ExporterActivation>();
        return services;
    }

    /// <summary>GET (and HEAD) /metrics: Prometheus text format 0.0.4.</summary>
    public static IEndpointConventionBuilder MapMetrics(this IEndpointRouteBuilder app) =>
        app.MapGetAndHead("/metrics", (PrometheusExporter exporter) => Results.Text(exporter.Render(), PrometheusExporter.ContentType))
            .WithName("GetMetrics")
            .WithTags("Health")
            .WithSummary("Prometheus metrics")
            .WithDescription(
                "Request, connection, routing and runtime metrics and the service's own, in Prometheus text exposition " +
                "format 0.0.4, named as OpenTelemetry's Prometheus exporter names them (e.g. " +
                "http_server_request_duration_seconds, dotnet_gc_collections_total).")
            .Produces(StatusCodes.Status200OK, contentType: "text/plain")
            .RequireApiKey(ApiKeyPolicies.Metrics);

    /// <summary>
    /// The host resolves every hosted service before it starts any of them, the web server included; depending on
    /// the exporter here makes it listen before the first request instead of from the first scrape.
    /// </summary>
    private sealed class ExporterActivation : IHostedService
    {
        public ExporterActivation(PrometheusExporter exporter) => _ = exporter;

        public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
