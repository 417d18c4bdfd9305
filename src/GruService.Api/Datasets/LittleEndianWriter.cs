using System.Buffers;
using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace GruService.Api.Datasets;

/// <summary>
/// Appends float32 and int32 values, little-endian, to a dataset file through a 64 KiB buffer that is written out
/// asynchronously when full: the parsers produce values a row at a time without blocking on the disk per row.
/// </summary>
internal sealed class LittleEndianWriter(Stream stream) : IAsyncDisposable
{
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(1 << 16);
    private int _used;

    public async ValueTask WriteAsync(ReadOnlyMemory<float> values, CancellationToken cancellationToken)
    {
        int offset = 0;
        while (offset < values.Length)
        {
            int room = (_buffer.Length - _used) / sizeof(float);
            if (room == 0)
            {
                await FlushBufferAsync(cancellationToken);
                continue;
            }
            int count = Math.Min(room, values.Length - offset);
            Encode(values.Span.Slice(offset, count), _buffer.AsSpan(_used, count * sizeof(float)));
            _used += count * sizeof(float);
            offset += count;
        }
    }

    public ValueTask WriteAsync(int value, CancellationToken cancellationToken)
    {
        if (_used + sizeof(int) <= _buffer.Length)
        {
            BinaryPrimitives.WriteInt32LittleEndian(_buffer.AsSpan(_used), value);
            _used += sizeof(int);
            return ValueTask.CompletedTask;
        }
        return FlushThenWriteAsync(value, cancellationToken);
    }

    /// <summary>Writes out what is buffered and flushes the file to disk, so a committed dataset survives a crash.</summary>
    public async Task CompleteAsync(CancellationToken cancellationToken)
    {
        await FlushBufferAsync(cancellationToken);
        await stream.FlushAsync(cancellationToken);
        if (stream is FileStream file) file.Flush(flushToDisk: true);
    }

    public async ValueTask DisposeAsync()
    {
        await stream.DisposeAsync();
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }

    private async ValueTask FlushThenWriteAsync(int value, CancellationToken cancellationToken)
    {
        await FlushBufferAsync(cancellationToken);
        await WriteAsync(value, cancellationToken);
    }

    private async ValueTask FlushBufferAsync(CancellationToken cancellationToken)
    {
        if (_used == 0) return;
        await stream.WriteAsync(_buffer.AsMemory(0, _used), cancellationToken);
        _used = 0;
    }

    private static void Encode(ReadOnlySpan<float> values, Span<byte> destination)
    {
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.AsBytes(values).CopyTo(destination);
            return;
        }
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteSingleLittleEndian(destination[(i * sizeof(float))..], values[i]);
    }

    /// <summary>The reverse of the writer's encoding, for loading.</summary>
    public static void Decode(ReadOnlySpan<byte> source, Span<float> values)
    {
        if (BitConverter.IsLittleEndian)
        {
            MemoryMarshal.Cast<byte, float>(source).CopyTo(values);
            return;
        }
        for (int i = 0; i < values.Length; i++)
            values[i] = BinaryPrimitives.ReadSingleLittleEndian(source[(i * sizeof(float))..]);
    }
}
