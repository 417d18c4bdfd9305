using System.Reflection;
using Microsoft.Extensions.Options;

namespace GruService.Api.Hosting;

/// <summary>
/// Runs the service, turning invalid configuration into a clear refusal to start. Options are validated as the host
/// starts (ValidateOnStart); left alone, a failure is an unhandled exception: two full stack traces and an abort
/// (exit code 134), which reads like a crash. Here each failure is one line, on standard error and as a Critical log
/// event, and the process exits with <see cref="InvalidConfigurationExitCode"/>; the host's own "Hosting failed to
/// start" event, which carries the stack trace, is left out of the log for these failures (LoggingExtensions).
/// </summary>
public static partial class StartupValidation
{
    /// <summary>The exit code when a setting is invalid: the service did not start, and restarting it will not help.</summary>
    public const int InvalidConfigurationExitCode = 1;

    /// <summary>Runs the application until it stops.</summary>
    /// <returns>The process's exit code: 0 after a normal stop, <see cref="InvalidConfigurationExitCode"/> when the configuration is invalid.</returns>
    public static async Task<int> RunUnlessMisconfiguredAsync(this WebApplication app)
    {
        await using (app)
        {
            try
            {
                await app.StartAsync();
            }
            // Only as the service's own process: hosted in another (WebApplicationFactory in the tests) the exception is the caller's.
            catch (Exception e) when (FailuresOf(e) is { Count: > 0 } failures && Assembly.GetEntryAssembly() == typeof(StartupValidation).Assembly)
            {
                ILogger logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(StartupValidation).FullName!);
                foreach (string failure in failures)
                {
                    Console.Error.WriteLine($"Invalid configuration: {failure}");
                    LogInvalidSetting(logger, failure);
                }
                Console.Error.WriteLine($"The service did not start: fix the setting{(failures.Count > 1 ? "s" : "")} above (exit code {InvalidConfigurationExitCode}).");
                return InvalidConfigurationExitCode;
            }
            await app.WaitForShutdownAsync();
            return 0;
        }
    }

    /// <summary>Whether <paramref name="exception"/> is the start-up validation's failure, made of options validation failures only.</summary>
    public static bool IsInvalidConfiguration(Exception? exception) => FailuresOf(exception).Count > 0;

    /// <summary>Every options validation failure <paramref name="exception"/> reports, one message each; empty for any other exception.</summary>
    private static List<string> FailuresOf(Exception? exception) => exception switch
    {
        OptionsValidationException invalid => [.. invalid.Failures],
        AggregateException { InnerExceptions.Count: > 0 } all when all.InnerExceptions.All(inner => inner is OptionsValidationException) =>
            [.. all.InnerExceptions.Cast<OptionsValidationException>().SelectMany(inner => inner.Failures)],
        _ => [],
    };

    [LoggerMessage(LogLevel.Critical, "Invalid configuration, not starting: {Failure}")]
    private static partial void LogInvalidSetting(ILogger logger, string failure);
}
