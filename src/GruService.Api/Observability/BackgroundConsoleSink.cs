using System.Text;
using System.Threading.Channels;
using Serilog;
using Serilog.Configuration;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting;

namespace GruService.Api.Observability;

/// <summary>
/// Writes log events to standard output from one background thread, many events per write.
/// </summary>
/// <remarks>
/// <para>
/// Serilog's console sink formats and writes each event on the thread that logs it, under one lock, with a write
/// system call per event. With one request event per request, at several thousand requests a second, that cost
/// about a fifth of the service's throughput: threads queued on the lock and the kernel took a call per line. Here the
/// logging thread only queues the event; the writer formats the events waiting and flushes once they are written.
/// </para>
/// <para>
/// The queue is bounded, so a blocked standard output (a stalled log collector) costs memory up to the capacity and
/// then drops events rather than blocking requests; the writer reports how many it dropped as soon as it can write again.
/// Disposing (the host stopping), process exit and an unhandled exception drain the queue first.
/// </para>
/// </remarks>
public sealed class BackgroundConsoleSink : ILogEventSink, IDisposable
{
    public const int DefaultQueueCapacity = 10_000;

    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    private static readonly MessageTemplate DroppedNoticeTemplate =
        new Serilog.Parsing.MessageTemplateParser().Parse("{DroppedLogEvents} log events were dropped: standard output did not keep up");

    private readonly ITextFormatter _formatter;
    private readonly TextWriter _output;
    private readonly Channel<LogEvent> _queue;
    private readonly Thread _writer;
    private long _dropped;
    private int _disposed;

    public BackgroundConsoleSink(ITextFormatter formatter, int queueCapacity = DefaultQueueCapacity, Stream? output = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(queueCapacity, 1);
        _formatter = formatter;
        _output = new StreamWriter(output ?? Console.OpenStandardOutput(), new UTF8Encoding(encoderShouldEmitUTF8Identifier: false), 64 * 1024);
        _queue = Channel.CreateBounded<LogEvent>(new BoundedChannelOptions(queueCapacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait, // TryWrite then refuses instead of blocking: counted as dropped
        });
        _writer = new Thread(WriteEvents) { IsBackground = true, Name = "Log writer" };
        _writer.Start();
        AppDomain.CurrentDomain.ProcessExit += OnProcessEnding;
        AppDomain.CurrentDomain.UnhandledException += OnProcessEnding;
    }

    /// <summary>Events refused because the queue was full, since the sink started.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    public void Emit(LogEvent logEvent)
    {
        if (!_queue.Writer.TryWrite(logEvent)) Interlocked.Increment(ref _dropped);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        AppDomain.CurrentDomain.ProcessExit -= OnProcessEnding;
        AppDomain.CurrentDomain.UnhandledException -= OnProcessEnding;
        _queue.Writer.TryComplete();
        // A writer stuck on a blocked output is abandoned after the timeout: shutting down must not hang on a log.
        if (!_writer.Join(DrainTimeout)) return;
        try
        {
            _output.Dispose();
        }
        catch (IOException)
        {
            // The output broke; the writer has reported it already.
        }
    }

    private void OnProcessEnding(object? sender, EventArgs e) => Dispose();

    private void WriteEvents()
    {
        ChannelReader<LogEvent> queue = _queue.Reader;
        long reportedDropped = 0;
        while (Wait(queue))
        {
            try
            {
                while (queue.TryRead(out LogEvent? logEvent))
                {
                    long dropped = Interlocked.Read(ref _dropped);
                    if (dropped != reportedDropped)
                    {
                        WriteDroppedNotice(dropped - reportedDropped);
                        reportedDropped = dropped;
                    }
                    _formatter.Format(logEvent, _output);
                }
                _output.Flush();
            }
            catch (Exception e) when (e is IOException or ObjectDisposedException)
            {
                // Standard output is gone (a closed pipe): nothing can be written any more, and the service must go on.
                Serilog.Debugging.SelfLog.WriteLine("The log writer stopped: {0}", e);
                while (queue.TryRead(out _)) { }
            }
        }
    }

    private static bool Wait(ChannelReader<LogEvent> queue)
    {
        ValueTask<bool> ready = queue.WaitToReadAsync();
        return ready.IsCompleted ? ready.Result : ready.AsTask().GetAwaiter().GetResult();
    }

    private void WriteDroppedNotice(long count) =>
        _formatter.Format(new LogEvent(DateTimeOffset.UtcNow, LogEventLevel.Warning, null,
            DroppedNoticeTemplate,
            [new LogEventProperty("DroppedLogEvents", new ScalarValue(count)),
             new LogEventProperty("SourceContext", new ScalarValue(typeof(BackgroundConsoleSink).FullName))]), _output);
}

public static class BackgroundConsoleSinkExtensions
{
    /// <summary>
    /// Standard output through <see cref="BackgroundConsoleSink"/>; in configuration
    /// <c>{"Name": "BackgroundConsole", "Args": {"formatter": ..., "queueCapacity": 10000}}</c>.
    /// </summary>
    public static LoggerConfiguration BackgroundConsole(this LoggerSinkConfiguration sinks, ITextFormatter formatter,
        int queueCapacity = BackgroundConsoleSink.DefaultQueueCapacity) =>
        sinks.Sink(new BackgroundConsoleSink(formatter, queueCapacity));
}
