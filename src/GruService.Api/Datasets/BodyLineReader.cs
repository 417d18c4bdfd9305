using System.Buffers;
using System.IO.Pipelines;
using GruService.Api.Hosting;

namespace GruService.Api.Datasets;

/// <summary>Bad data in an upload: answered 400 with the message, which names the line (and row, column or step) at fault.</summary>
public sealed class DatasetFormatException(string message) : Exception(message)
{
    /// <summary>A value from the upload quoted for a message, cut short when long.</summary>
    internal static string Quote(ReadOnlySpan<byte> utf8)
    {
        string text = System.Text.Encoding.UTF8.GetString(utf8.Length > 200 ? utf8[..200] : utf8);
        return text.Length > 40 ? $"'{text[..40]}…'" : $"'{text}'";
    }
}

/// <summary>An upload body longer than Datasets:MaxUploadBytes: answered 413.</summary>
public sealed class DatasetTooLargeException(long limit) : Exception($"The upload is larger than {limit} bytes.")
{
    public long Limit => limit;
}

/// <summary>
/// Reads a request body one line at a time. Only the current line is held (copied out of the pipe into a buffer
/// that grows up to the line limit), so memory stays bounded whatever the body's size; the bytes read are counted
/// against the upload limit as they arrive, for bodies sent without a Content-Length.
/// Lines end at LF; a CR before it and a UTF-8 byte order mark before the first line are dropped.
/// </summary>
internal sealed class BodyLineReader(PipeReader body, long maxBodyBytes, int maxLineBytes) : IDisposable
{
    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    private byte[] _line = ArrayPool<byte>.Shared.Rent(4096);
    // The unconsumed part of the last read. It is held across calls, so the lines of one read are taken without
    // going back to the pipe each time; the pipe is advanced only when a line runs past its end.
    private ReadOnlySequence<byte> _buffer;
    private bool _holding;
    private bool _bodyComplete;
    // How much of _buffer has already been searched for LF, so a long line arriving in many reads is scanned once.
    private long _scanned;
    private bool _ended;

    /// <summary>Body bytes consumed so far: the whole body once <see cref="ReadLineAsync"/> has returned false.</summary>
    public long BytesRead { get; private set; }

    /// <summary>1-based number of <see cref="Current"/> in the body.</summary>
    public long LineNumber { get; private set; }

    /// <summary>The line just read, without its line break; valid until the next read.</summary>
    public ReadOnlyMemory<byte> Current { get; private set; }

    /// <returns>False at the end of the body.</returns>
    /// <exception cref="DatasetTooLargeException">The body is longer than the upload limit.</exception>
    /// <exception cref="DatasetFormatException">A line is longer than the line limit.</exception>
    public async ValueTask<bool> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (!_ended)
        {
            if (_holding)
            {
                if (_buffer.Slice(_scanned).PositionOf((byte)'\n') is { } newline)
                {
                    ReadOnlySequence<byte> line = _buffer.Slice(0, newline);
                    long consumed = line.Length + 1;
                    Take(line);
                    _buffer = _buffer.Slice(_buffer.GetPosition(1, newline));
                    _scanned = 0;
                    BytesRead += consumed;
                    return true;
                }
                if (_buffer.Length > maxLineBytes)
                {
                    Release();
                    throw TooLong(LineNumber + 1);
                }
                if (_bodyComplete)
                {
                    // Whatever follows the last line break is a last line without one.
                    long rest = _buffer.Length;
                    if (rest > 0) Take(_buffer);
                    Release();
                    _ended = true;
                    BytesRead += rest;
                    return rest > 0;
                }
                _scanned = _buffer.Length;
                body.AdvanceTo(_buffer.Start, _buffer.End);
                _holding = false;
            }

            ReadResult result;
            try
            {
                result = await body.ReadCancellablyAsync(cancellationToken); // not ReadAsync(token): see CancellableBodyReads
            }
            catch (IOException e) when (e is not BadHttpRequestException)
            {
                // A connection that breaks mid-upload is the client's failure, not the storage's (which IOException would otherwise suggest).
                throw new BadHttpRequestException($"The request body could not be read: {e.Message}", StatusCodes.Status400BadRequest, e);
            }
            _buffer = result.Buffer;
            _holding = true;
            _bodyComplete = result.IsCompleted;
            if (BytesRead + _buffer.Length > maxBodyBytes)
            {
                Release();
                throw new DatasetTooLargeException(maxBodyBytes);
            }
        }
        return false;
    }

    private void Release()
    {
        if (!_holding) return;
        body.AdvanceTo(_buffer.End);
        _holding = false;
        _buffer = default;
    }

    private void Take(ReadOnlySequence<byte> line)
    {
        LineNumber++;
        if (line.Length > maxLineBytes) throw TooLong(LineNumber);
        int length = (int)line.Length;
        if (_line.Length < length)
        {
            ArrayPool<byte>.Shared.Return(_line);
            _line = ArrayPool<byte>.Shared.Rent(length);
        }
        line.CopyTo(_line);
        int start = LineNumber == 1 && _line.AsSpan(0, length).StartsWith(Utf8Bom) ? Utf8Bom.Length : 0;
        if (length > start && _line[length - 1] == (byte)'\r') length--;
        Current = _line.AsMemory(start, length - start);
    }

    private DatasetFormatException TooLong(long line) =>
        new($"Line {line} is longer than the limit of {maxLineBytes} bytes (Datasets:MaxLineBytes).");

    public void Dispose()
    {
        Release();
        ArrayPool<byte>.Shared.Return(_line);
        _line = [];
        Current = default;
    }
}
