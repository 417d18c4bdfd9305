using GruService.Api.Hosting;

namespace GruService.Api.Inference;

/// <summary>A request body read whole into a pooled buffer, refusing to grow past a limit.</summary>
public sealed class RequestBody : IDisposable
{
    private byte[] _buffer;

    private RequestBody(byte[] buffer, int length)
    {
        _buffer = buffer;
        Length = length;
    }

    public int Length { get; }
    public ReadOnlySpan<byte> Span => _buffer.AsSpan(0, Length);

    /// <returns>The body, or null when it is longer than <paramref name="limit"/> bytes.</returns>
    public static async Task<RequestBody?> ReadAsync(HttpRequest request, int limit, CancellationToken cancellationToken)
    {
        if (request.ContentLength > limit) return null;
        // The server's own limit (Kestrel's default is 30 MB) must not cut in before this one.
        if (request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = limit + 1L;
        // Not request.Body: a read its token cancels leaves Kestrel's connection mid-read (see CancellableBodyReads).
        using Stream body = request.CancellableBody();
        var pool = RequestBuffers.Bytes;
        byte[] buffer = pool.Rent((int)Math.Min(request.ContentLength ?? 16 * 1024, limit) + 1);
        int length = 0;
        try
        {
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (length > limit) break;
                    byte[] larger = pool.Rent((int)Math.Min(2L * buffer.Length, limit + 1L));
                    buffer.AsSpan(0, length).CopyTo(larger);
                    pool.Return(buffer);
                    buffer = larger;
                }
                int read = await body.ReadAsync(buffer.AsMemory(length), cancellationToken);
                if (read == 0) break;
                length += read;
            }
            if (length > limit)
            {
                pool.Return(buffer);
                return null;
            }
            return new RequestBody(buffer, length);
        }
        catch
        {
            pool.Return(buffer);
            throw;
        }
    }

    public void Dispose()
    {
        RequestBuffers.Bytes.Return(_buffer);
        _buffer = [];
    }
}
