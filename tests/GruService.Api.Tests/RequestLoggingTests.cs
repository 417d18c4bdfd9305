using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GruService.Api.Tests;

public class RequestLoggingTests
{
    [Fact]
    public async Task EveryRequest_LogsOneEvent_WithMethodPathStatusElapsedAndTraceId()
    {
        var capture = new CapturingLoggerProvider();
        using var factory = new GruServiceFactory { ConfigureTestServices = services => services.AddSingleton<ILoggerProvider>(capture) };
        HttpClient client = await factory.ReadyClientAsync();
        capture.Events.Clear();

        var request = new HttpRequestMessage(HttpMethod.Get, "/v1/models/nobody");
        request.Headers.Add("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
        await client.SendAsync(request);

        var events = capture.Events.Where(e => e.Category.EndsWith("RequestLoggingMiddleware")).ToList();
        var logged = Assert.Single(events);
        Assert.Equal("GET", logged.State["Method"]);
        Assert.Equal("/v1/models/nobody", logged.State["Path"]);
        Assert.Equal(404, logged.State["StatusCode"]);
        Assert.Equal("/v1/models/{name}", logged.State["Route"]);
        Assert.IsType<double>(logged.State["ElapsedMs"]);
        // The caller's W3C trace id is carried through to the log event.
        Assert.Equal("0af7651916cd43dd8448eb211c80319c", logged.State["TraceId"]);
    }

    [Fact]
    public async Task Requests_OpenNoLoggingScope()
    {
        var scopes = new ScopeRecordingLoggerProvider();
        using var factory = new GruServiceFactory { ConfigureTestServices = services => services.AddSingleton<ILoggerProvider>(scopes) };
        HttpClient client = await factory.ReadyClientAsync();
        await client.GetAsync("/v1/models/nobody");

        // The host's per-request scope (RequestId, RequestPath, ConnectionId) is not pushed: the trace id ties a request's events.
        Assert.Empty(scopes.Begun);
    }

    /// <summary>Records every scope a logger is asked to begin.</summary>
    private sealed class ScopeRecordingLoggerProvider : ILoggerProvider, ILogger
    {
        public System.Collections.Concurrent.ConcurrentQueue<object> Begun { get; } = new();

        public ILogger CreateLogger(string categoryName) => this;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull
        {
            Begun.Enqueue(state);
            return null;
        }

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) { }

        public void Dispose() { }
    }

    [Fact]
    public async Task RejectedUpload_IsLoggedWithTheReason()
    {
        var capture = new CapturingLoggerProvider();
        using var factory = new GruServiceFactory { ConfigureTestServices = services => services.AddSingleton<ILoggerProvider>(capture) };
        HttpClient client = await factory.ReadyClientAsync();
        await client.PutModelAsync("broken", [1, 2, 3]);

        var rejected = capture.Events.Single(e => e.Category.EndsWith("ModelRegistry") && e.Level == LogLevel.Warning);
        Assert.Equal("broken", rejected.State["Model"]);
        Assert.Contains("too short", (string)rejected.State["Reason"]!);
    }

    [Fact]
    public async Task MalformedBody_IsAClientError_NotLoggedAsAServerError()
    {
        var capture = new CapturingLoggerProvider();
        using var factory = new GruServiceFactory { ConfigureTestServices = services => services.AddSingleton<ILoggerProvider>(capture) };
        HttpClient client = await factory.ReadyClientAsync();
        await (await client.PostJsonAsync("/v1/training-jobs", "{\"model\": ")).AssertProblemAsync(400, "invalid_training_job");

        Assert.DoesNotContain(capture.Events, e => e.Level >= LogLevel.Error);
        Assert.Contains(capture.Events, e => e.Category.EndsWith("RequestLoggingMiddleware") && Equals(e.State["StatusCode"], 400));
    }
}
