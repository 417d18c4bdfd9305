using System.Buffers;
using System.IO.Pipelines;

namespace GruService.Api.Hosting;

/// <summary>
/// Reads of a request body that a cancellation token (the client going away, a request timeout) can stop without
/// breaking the connection. Kestrel's HTTP/1.1 body reader does not recover from a read its token cancels: the
/// read stays in progress, and once the handler returns Kestrel fails with "Reading is already in progress."
/// (logged as "Connection processing ended abnormally." or "automatic draining of the request body failed";
/// dotnet/aspnetcore#17840). Here the token calls CancelPendingRead instead, which ends the read normally with a
/// cancelled result; that result is advanced past, so the reader is left idle, and then the read throws
/// <see cref="OperationCanceledException"/> as a cancelled read would.
/// </summary>
public static class CancellableBodyReads
{
    /// <summary>ReadAsync that leaves the reader idle when <paramref name="cancellationToken"/> stops it.</summary>
    /// <exception cref="OperationCanceledException">The token was cancelled; nothing of the read was consumed.</exception>
    public static async ValueTask<ReadResult> ReadCancellablyAsync(this PipeReader reader, CancellationToken cancellationToken)
    {
        // A token already cancelled calls CancelPendingRead at once, so the read below returns cancelled at once too.
        ReadResult result;
        using (cancellationToken.UnsafeRegister(static state => ((PipeReader)state!).CancelPendingRead(), reader))
            result = await reader.ReadAsync(CancellationToken.None);
        if (result.IsCanceled)
        {
            // Examined up to the end, as the caller's last AdvanceTo may have: the examined position cannot go back.
            reader.AdvanceTo(result.Buffer.Start, result.Buffer.End);
            throw new OperationCanceledException("Reading the request body was cancelled.", cancellationToken);
        }
        return result;
    }

    /// <summary>The request body as a stream whose reads <see cref="ReadCancellablyAsync"/>: for code that takes a <see cref="Stream"/>.</summary>
    public static Stream CancellableBody(this HttpRequest request) => new CancellableBodyStream(request.BodyReader);

    private sealed class CancellableBodyStream(PipeReader reader) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> destination, CancellationToken cancellationToken = default)
        {
            if (destination.IsEmpty) return 0;
            ReadResult result = await reader.ReadCancellablyAsync(cancellationToken);
            long length = Math.Min(result.Buffer.Length, destination.Length);
            ReadOnlySequence<byte> taken = result.Buffer.Slice(0, length);
            taken.CopyTo(destination.Span);
            reader.AdvanceTo(taken.End);
            return (int)length;
        }

        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        // Kestrel refuses synchronous reads of a request body by default; so does this.
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("Read the request body asynchronously.");
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
