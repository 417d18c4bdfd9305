using Microsoft.Extensions.Options;

namespace GruService.Api.Hosting;

/// <summary>
/// Runs the service unless its configuration is invalid. Options are validated at start (ValidateOnStart); left to
/// the host, a failure is an unhandled exception: two full stack traces and an abort (exit code 134), which reads
/// like a crash. Validated here first, each failure is one line, on standard error and as a Critical log event, and
/// the process exits with <see cref="InvalidConfigurationExitCode"/>.
/// </summary>
public static partial class StartupValidation
{
    /// <summary>The exit code when a setting is invalid: the service did not start, and restarting it will not help.</summary>
    public const int InvalidConfigurationExitCode = 1;

    /// <summary>Validates every option registered with ValidateOnStart, then runs the application.</summary>
    /// <returns>The process's exit code: 0 after a normal stop, <see cref="InvalidConfigurationExitCode"/> when the configuration is invalid.</returns>
    public static async Task<int> RunUnlessMisconfiguredAsync(this WebApplication app)
    {
        IReadOnlyList<string> failures = Validate(app.Services);
        if (failures.Count == 0)
        {
            await app.RunAsync();
            return 0;
        }

        ILogger logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(StartupValidation).FullName!);
        foreach (string failure in failures)
        {
            Console.Error.WriteLine($"Invalid configuration: {failure}");
            LogInvalidSetting(logger, failure);
        }
        Console.Error.WriteLine($"The service did not start: fix the setting{(failures.Count > 1 ? "s" : "")} above (exit code {InvalidConfigurationExitCode}).");
        // Disposing the host flushes the log events to their sink before the process ends.
        await app.DisposeAsync();
        return InvalidConfigurationExitCode;
    }

    /// <summary>Every failure of the options validated at start, one message each; empty when all are valid.</summary>
    private static List<string> Validate(IServiceProvider services)
    {
        try
        {
            services.GetService<IStartupValidator>()?.Validate();
            return [];
        }
        catch (OptionsValidationException e)
        {
            return [.. e.Failures];
        }
        catch (AggregateException e) when (e.InnerExceptions.All(inner => inner is OptionsValidationException))
        {
            return [.. e.InnerExceptions.Cast<OptionsValidationException>().SelectMany(inner => inner.Failures)];
        }
    }

    [LoggerMessage(LogLevel.Critical, "Invalid configuration, not starting: {Failure}")]
    private static partial void LogInvalidSetting(ILogger logger, string failure);
}
