using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace GruService.Api.Hosting;

/// <summary>How the service stops on SIGTERM (or Ctrl-C), bound from "Shutdown".</summary>
public sealed class ShutdownOptions : IValidatableObject
{
    public const string Section = "Shutdown";

    /// <summary>The most the whole stop may take: the drain delay, in-flight requests finishing, the training job stopping.
    /// After it the process exits anyway (HostOptions.ShutdownTimeout). Orchestrators should wait a little longer before SIGKILL.</summary>
    [Range(1, 3600)]
    public int TimeoutSeconds { get; set; } = 30;

    /// <summary>
    /// How long /readyz answers 503 while everything else is still served, before the server stops taking connections,
    /// so load balancers stop sending requests first.
    /// </summary>
    [Range(0, 3600)]
    public double DrainDelaySeconds { get; set; } = 5;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (DrainDelaySeconds >= TimeoutSeconds)
            yield return new ValidationResult(
                $"Shutdown:DrainDelaySeconds ({DrainDelaySeconds}) must be shorter than Shutdown:TimeoutSeconds ({TimeoutSeconds}), which bounds the whole stop.",
                [nameof(DrainDelaySeconds)]);
    }
}

public static class ShutdownExtensions
{
    /// <summary>
    /// On SIGTERM: /readyz answers 503 at once (the readiness check watches ApplicationStopping), the service keeps
    /// answering for Shutdown:DrainDelaySeconds, then Kestrel stops accepting and lets requests in flight finish, and
    /// the training worker stops its job at the next batch (it resumes from its last checkpoint at the next start);
    /// all within Shutdown:TimeoutSeconds.
    /// </summary>
    public static IServiceCollection AddGracefulShutdown(this IServiceCollection services)
    {
        services.AddOptions<ShutdownOptions>().BindConfiguration(ShutdownOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddOptions<HostOptions>().Configure<IOptions<ShutdownOptions>>((host, shutdown) =>
            host.ShutdownTimeout = TimeSpan.FromSeconds(shutdown.Value.TimeoutSeconds));
        services.AddHostedService<DrainDelay>();
        return services;
    }
}

/// <summary>Holds the stop back for the drain delay before any hosted service (Kestrel first) stops.</summary>
internal sealed partial class DrainDelay(IOptions<ShutdownOptions> options, ILogger<DrainDelay> logger) : IHostedLifecycleService
{
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        TimeSpan delay = TimeSpan.FromSeconds(options.Value.DrainDelaySeconds);
        LogStopping(delay.TotalSeconds, options.Value.TimeoutSeconds);
        if (delay <= TimeSpan.Zero) return;
        try
        {
            await Task.Delay(delay, cancellationToken);
        }
        catch (OperationCanceledException)
        {
            // The shutdown timeout ran out first: stop now.
        }
    }

    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StartedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(LogLevel.Information, "Shutting down: /readyz answers 503; requests are still served for {DrainDelaySeconds} s, then those in flight finish (at most {TimeoutSeconds} s in all)")]
    private partial void LogStopping(double drainDelaySeconds, int timeoutSeconds);
}
