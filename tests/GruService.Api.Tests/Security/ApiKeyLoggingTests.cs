using System.Collections.Concurrent;
using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GruService.Api.Tests.Security;

public sealed class ApiKeyLoggingTests
{
    [Fact]
    public async Task Keys_NeverAppearInLogs_WhetherValidOrNot()
    {
        const string wrongKey = "wrong-key-fedcba9876543210";
        var capture = new TextCapturingLoggerProvider();
        using var factory = new GruServiceFactory { ConfigureTestServices = services => services.AddSingleton<ILoggerProvider>(capture) };
        HttpClient client = await factory.ReadyClientAsync();

        await client.PutModelAsync("demand", ReferenceModel.Load(8).File);
        await client.GetAsync("/v1/models/demand");
        using HttpClient wrong = factory.CreateClientWithKey(wrongKey);
        await wrong.PutModelAsync("demand", ReferenceModel.Load(8).File);
        using HttpClient bearer = factory.CreateClientWithKey(null);
        bearer.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", wrongKey);
        await bearer.DeleteAsync("/v1/models/demand");

        // The requests were logged (so the capture works), with the key's name at most, never a key.
        Assert.Contains(capture.Lines, line => line.Contains("/v1/models/demand", StringComparison.Ordinal));
        Assert.DoesNotContain(capture.Lines, line => line.Contains(GruServiceFactory.TestApiKey, StringComparison.Ordinal));
        Assert.DoesNotContain(capture.Lines, line => line.Contains(wrongKey, StringComparison.Ordinal));
    }

    /// <summary>Every event at every level as text: the rendered message, every state value and the exception.</summary>
    private sealed class TextCapturingLoggerProvider : ILoggerProvider
    {
        public ConcurrentQueue<string> Lines { get; } = new();
        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, Lines);
        public void Dispose() { }

        private sealed class Logger(string category, ConcurrentQueue<string> lines) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull
            {
                lines.Enqueue($"{category} scope {state}");
                return null;
            }

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var values = state as IEnumerable<KeyValuePair<string, object?>> ?? [];
                lines.Enqueue($"{category} {logLevel} {formatter(state, exception)} {string.Join(' ', values.Select(kv => $"{kv.Key}={kv.Value}"))} {exception}");
            }
        }
    }
}
