using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace GruService.Api.Tests;

public sealed record LogEvent(string Category, LogLevel Level, IReadOnlyDictionary<string, object?> State);

/// <summary>Keeps every log event the host writes, with its structured values.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    public ConcurrentQueue<LogEvent> Events { get; } = new();

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Events);

    public void Dispose() { }

    private sealed class Logger(string category, ConcurrentQueue<LogEvent> events) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            var values = state as IEnumerable<KeyValuePair<string, object?>> ?? [];
            events.Enqueue(new LogEvent(category, logLevel, values.ToDictionary(kv => kv.Key, kv => kv.Value)));
        }
    }
}
