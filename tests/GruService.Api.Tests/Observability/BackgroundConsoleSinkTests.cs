using System.Text;
using System.Text.Json;
using GruService.Api.Observability;
using Serilog.Events;
using Serilog.Formatting.Json;
using Serilog.Parsing;

namespace GruService.Api.Tests.Observability;

public class BackgroundConsoleSinkTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public void Dispose_WritesEveryQueuedEvent_InOrder_AsOneJsonLineEach()
    {
        var output = new MemoryStream();
        var sink = new BackgroundConsoleSink(new JsonFormatter(renderMessage: true), output: new KeptOpenStream(output));
        for (int i = 0; i < 500; i++) sink.Emit(Event(i));
        sink.Dispose();

        List<JsonElement> lines = Lines(output);
        Assert.Equal(500, lines.Count);
        Assert.Equal(Enumerable.Range(0, 500), lines.Select(line => line.GetProperty("Properties").GetProperty("Number").GetInt32()));
        Assert.Equal("request 7", lines[7].GetProperty("RenderedMessage").GetString());
        Assert.Equal(0, sink.Dropped);
    }

    [Fact]
    public void Events_AreWrittenWithoutWaitingForDispose()
    {
        var output = new KeptOpenStream(new MemoryStream());
        using var sink = new BackgroundConsoleSink(new JsonFormatter(), output: output);
        sink.Emit(Event(1));
        // The writer flushes as soon as the queue is empty: a quiet service's last line is not held back.
        Assert.True(SpinWait.SpinUntil(() => output.Written > 0, Patience), "nothing was written");
    }

    [Fact]
    public void BlockedOutput_NeverBlocksTheLoggingThread_DropsPastTheCapacity_AndReportsTheCount()
    {
        var output = new MemoryStream();
        var gate = new GatedStream(new KeptOpenStream(output));
        var sink = new BackgroundConsoleSink(new JsonFormatter(), queueCapacity: 10, output: gate);
        sink.Emit(Event(0));
        Assert.True(gate.Blocked.Wait(Patience), "the writer never wrote");

        // The writer is stuck in a write: 10 events fill the queue, the other 40 are dropped, and Emit returns each time.
        for (int i = 1; i <= 50; i++) sink.Emit(Event(i));
        Assert.Equal(40, sink.Dropped);

        gate.Open();
        sink.Dispose();
        List<JsonElement> lines = Lines(output);
        JsonElement notice = Assert.Single(lines, line => line.GetProperty("Level").GetString() == "Warning");
        Assert.Equal(40, notice.GetProperty("Properties").GetProperty("DroppedLogEvents").GetInt64());
        Assert.Equal(1 + 10, lines.Count(line => line.GetProperty("Properties").TryGetProperty("Number", out _)));
    }

    [Fact]
    public void BrokenOutput_IsSurvived()
    {
        var sink = new BackgroundConsoleSink(new JsonFormatter(), output: new BrokenStream());
        for (int i = 0; i < 100; i++) sink.Emit(Event(i));
        sink.Dispose(); // returns: the writer gave up on the output instead of dying or hanging
        sink.Emit(Event(101)); // and logging after that is a no-op, not an exception
    }

    // Qualified: the test project has a LogEvent of its own (CapturingLoggerProvider's).
    private static Serilog.Events.LogEvent Event(int number) =>
        new(DateTimeOffset.UtcNow, LogEventLevel.Information, null, new MessageTemplateParser().Parse("request {Number}"),
            [new LogEventProperty("Number", new ScalarValue(number))]);

    private static List<JsonElement> Lines(MemoryStream output) =>
        Encoding.UTF8.GetString(output.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(line => JsonDocument.Parse(line).RootElement.Clone()).ToList();

    /// <summary>What the sink writes to: writes (and flushes) only; each test stream decides what a write does.</summary>
    private abstract class WriteOnlyStream : Stream
    {
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }

    /// <summary>Lets the test read the bytes after the sink disposed its writer.</summary>
    private sealed class KeptOpenStream(MemoryStream inner) : WriteOnlyStream
    {
        /// <summary>Bytes written so far, read safely while the writer thread writes.</summary>
        public long Written { get { lock (inner) return inner.Length; } }
        public override void Write(byte[] buffer, int offset, int count) { lock (inner) inner.Write(buffer, offset, count); }
    }

    /// <summary>Blocks the first write until opened, as a stalled pipe does.</summary>
    private sealed class GatedStream(Stream inner) : WriteOnlyStream
    {
        private readonly ManualResetEventSlim _open = new(false);
        public ManualResetEventSlim Blocked { get; } = new(false);
        public void Open() => _open.Set();

        public override void Write(byte[] buffer, int offset, int count)
        {
            Blocked.Set();
            _open.Wait();
            inner.Write(buffer, offset, count);
        }
    }

    private sealed class BrokenStream : WriteOnlyStream
    {
        public override void Flush() => throw new IOException("Broken pipe");
        public override void Write(byte[] buffer, int offset, int count) => throw new IOException("Broken pipe");
    }
}
