using GruService.Api.Hosting;
using GruService.Api.Models;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace GruService.Api.Health;

/// <summary>A probe's answer.</summary>
/// <param name="Status">"Healthy", "Degraded" or "Unhealthy".</param>
/// <param name="Checks">Each check's status and, when it fails, why.</param>
public sealed record HealthResponse(string Status, IReadOnlyDictionary<string, HealthCheckResponse> Checks);

/// <summary>One readiness check.</summary>
/// <param name="Status">"Healthy", "Degraded" or "Unhealthy".</param>
/// <param name="Description">What was checked, or what is wrong.</param>
public sealed record HealthCheckResponse(string Status, string? Description);

public static class HealthApi
{
    private const string ReadyTag = "ready";

    public static IServiceCollection AddGruHealth(this IServiceCollection services)
    {
        services.AddHealthChecks()
            .AddCheck<RegistryLoadedCheck>("registry", tags: [ReadyTag])
            .AddCheck<StorageWritableCheck>("storage", tags: [ReadyTag]);
        return services;
    }

    public static RouteGroupBuilder MapHealthApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("").WithTags("Health");
        group.MapGetAndHead("/healthz", Liveness).WithName("Liveness");
        group.MapGetAndHead("/readyz", Readiness).WithName("Readiness").Produces<HealthResponse>(StatusCodes.Status503ServiceUnavailable);
        return group;
    }

    /// <summary>Liveness probe</summary>
    /// <remarks>200 while the process runs and answers HTTP. Use for Kubernetes livenessProbe; it never checks dependencies.</remarks>
    public static Ok<HealthResponse> Liveness() =>
        TypedResults.Ok(new HealthResponse("Healthy", new Dictionary<string, HealthCheckResponse>()));

    /// <summary>Readiness probe</summary>
    /// <remarks>200 when the model registry has loaded the stored models and the storage root is writable; 503 otherwise, and from the moment the service is told to stop (SIGTERM). Use for load balancers and Kubernetes readinessProbe.</remarks>
    /// <param name="health">The health check service.</param>
    /// <param name="lifetime">Says when the service has been told to stop.</param>
    /// <param name="cancellationToken">Aborted when the client goes away.</param>
    public static async Task<Results<Ok<HealthResponse>, JsonHttpResult<HealthResponse>>> Readiness(
        HealthCheckService health, IHostApplicationLifetime lifetime, CancellationToken cancellationToken)
    {
        // Not a health check: the health check service logs every unhealthy result as an error, and a drain is the
        // service stopping as asked, whose probes a load balancer repeats until it lets go.
        if (lifetime.ApplicationStopping.IsCancellationRequested)
            return TypedResults.Json(Stopping, statusCode: StatusCodes.Status503ServiceUnavailable);
        HealthReport report = await health.CheckHealthAsync(check => check.Tags.Contains(ReadyTag), cancellationToken);
        var response = new HealthResponse(report.Status.ToString(),
            report.Entries.ToDictionary(e => e.Key, e => new HealthCheckResponse(e.Value.Status.ToString(), e.Value.Description)));
        return report.Status == HealthStatus.Healthy
            ? TypedResults.Ok(response)
            : TypedResults.Json(response, statusCode: StatusCodes.Status503ServiceUnavailable);
    }

    private static readonly HealthResponse Stopping = new(nameof(HealthStatus.Unhealthy), new Dictionary<string, HealthCheckResponse>
    {
        ["shutdown"] = new(nameof(HealthStatus.Unhealthy), "the service is shutting down; requests in flight finish"),
    });
}

internal sealed class RegistryLoadedCheck(ModelRegistry registry) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(registry.IsLoaded
            ? HealthCheckResult.Healthy($"{registry.List().Count} models loaded")
            : HealthCheckResult.Unhealthy("the model registry is still loading stored models"));
}

internal sealed class StorageWritableCheck(IModelStore store) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        await store.ProbeWritableAsync(cancellationToken) is { } problem
            ? HealthCheckResult.Unhealthy(problem)
            : HealthCheckResult.Healthy("storage root is writable");
}
