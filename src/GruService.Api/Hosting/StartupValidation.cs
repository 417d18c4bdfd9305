using System.Reflection;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;

namespace GruService.Api.Hosting;

/// <summary>
/// Runs the service, turning a start it cannot make into a clear refusal. Options are validated as the host starts
/// (ValidateOnStart), and Kestrel binds its addresses; left alone, an invalid setting or an address already in use is an
/// unhandled exception: two full stack traces and an abort (exit code 134), which reads like a crash. Here each failure
/// is one line, on standard error and as a Critical log event, and the process exits with
/// <see cref="InvalidConfigurationExitCode"/>; the host's own "Hosting failed to start" event, which carries the stack
/// trace, is left out of the log for these failures (LoggingExtensions).
/// </summary>
public static partial class StartupValidation
{
    /// <summary>The exit code when a setting is invalid or an address cannot be listened on: the service did not start, and restarting it as it is will not help.</summary>
    public const int InvalidConfigurationExitCode = 1;

    /// <summary>Runs the application until it stops.</summary>
    /// <returns>The process's exit code: 0 after a normal stop, <see cref="InvalidConfigurationExitCode"/> when the configuration is invalid.</returns>
    public static async Task<int> RunUnlessMisconfiguredAsync(this WebApplication app)
    {
        // Only as the service's own process: hosted in another (WebApplicationFactory in the tests) the exception is the caller's.
        bool ownProcess = Assembly.GetEntryAssembly() == typeof(StartupValidation).Assembly;
        try
        {
            await app.StartAsync();
        }
        catch (Exception e) when (ownProcess && StartFailureOf(e) is { } failure)
        {
            ILogger logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger(typeof(StartupValidation).FullName!);
            foreach (string line in failure.Lines)
            {
                Console.Error.WriteLine($"{failure.Prefix}: {line}");
                failure.Log(logger, line);
            }
            Console.Error.WriteLine($"The service did not start: {failure.Advice} (exit code {InvalidConfigurationExitCode}).");
            await app.DisposeAsync();
            return InvalidConfigurationExitCode;
        }
        // Any other failure to start leaves the app undisposed: in its own process the unhandled exception ends it, and
        // under WebApplicationFactory the factory owns the app and still reads its services to report the failure
        // (disposing it here raced the factory, which then threw ObjectDisposedException instead of the failure).
        await using (app)
        {
            await app.WaitForShutdownAsync();
            return 0;
        }
    }

    /// <summary>
    /// Whether <paramref name="exception"/> is a failure to start that <see cref="RunUnlessMisconfiguredAsync"/> reports in
    /// a line: the start-up validation's (options validation failures only), or an address already in use.
    /// </summary>
    public static bool IsInvalidConfiguration(Exception? exception) => StartFailureOf(exception) is not null;

    /// <summary>How a failure to start is reported: each line after its prefix, each logged, then what to do.</summary>
    private sealed record StartFailure(string Prefix, IReadOnlyList<string> Lines, Action<ILogger, string> Log, string Advice);

    /// <summary>The report of a failure to start that is not a fault of the service; null for any other exception.</summary>
    private static StartFailure? StartFailureOf(Exception? exception)
    {
        List<string> invalid = exception switch
        {
            OptionsValidationException one => [.. one.Failures],
            AggregateException { InnerExceptions.Count: > 0 } all when all.InnerExceptions.All(inner => inner is OptionsValidationException) =>
                [.. all.InnerExceptions.Cast<OptionsValidationException>().SelectMany(inner => inner.Failures)],
            _ => [],
        };
        if (invalid.Count > 0)
            return new StartFailure("Invalid configuration", invalid, LogInvalidSetting, $"fix the setting{(invalid.Count > 1 ? "s" : "")} above");
        // Kestrel's message names the address: "Failed to bind to address http://...: address already in use."
        if (exception is IOException { InnerException: AddressInUseException })
            return new StartFailure("Cannot listen", [exception.Message], LogAddressInUse,
                "stop what listens there, or give the service another address (--urls, ASPNETCORE_URLS or ASPNETCORE_HTTP_PORTS)");
        return null;
    }

    [LoggerMessage(LogLevel.Critical, "Invalid configuration, not starting: {Failure}")]
    private static partial void LogInvalidSetting(ILogger logger, string failure);

    [LoggerMessage(LogLevel.Critical, "Cannot listen, not starting: {Failure}")]
    private static partial void LogAddressInUse(ILogger logger, string failure);
}
