using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace GruService.Api.Training;

/// <summary>
/// A place in the job list, which is ordered newest first by creation time and then id: the last job of a page, which
/// the next page starts after. It names a position, not a job, so it stays valid when that job is deleted, and jobs
/// created meanwhile (newer than every cursor) neither shift a walk nor appear in it twice. Clients get it as an opaque
/// token (the <c>next</c> of a page, sent back as <c>?after=</c>).
/// </summary>
/// <param name="CreatedAt">The job's creation time as its store keeps it (PostgreSQL keeps microseconds, SQLite the record's ticks).</param>
/// <param name="Id">The job's id, which orders jobs created at the same time.</param>
public sealed record JobCursor(DateTimeOffset CreatedAt, string Id)
{
    /// <summary>The token clients see: base64url of "UTC ticks:id".</summary>
    public string ToToken() =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(string.Create(CultureInfo.InvariantCulture, $"{CreatedAt.UtcTicks}:{Id}")));

    /// <summary>The cursor a token names; null when the text is not a token <see cref="ToToken"/> made.</summary>
    public static JobCursor? FromToken(string token)
    {
        if (token.Length is 0 or > 256) return null;
        byte[] bytes;
        try
        {
            bytes = Base64Url.DecodeFromChars(token);
        }
        catch (FormatException)
        {
            return null;
        }
        string text;
        try
        {
            text = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0 || colon == text.Length - 1) return null;
        if (!long.TryParse(text.AsSpan(0, colon), NumberStyles.None, CultureInfo.InvariantCulture, out long ticks)
            || ticks < DateTimeOffset.MinValue.UtcTicks || ticks > DateTimeOffset.MaxValue.UtcTicks)
            return null;
        return new JobCursor(new DateTimeOffset(ticks, TimeSpan.Zero), text[(colon + 1)..]);
    }
}
