using System.Globalization;
using System.Text.Json;

namespace GruService.Api.Datasets;

/// <summary>
/// Class labels are text. A label sent as a JSON number is taken as a class index, as PyTorch datasets label their
/// samples: a whole number (3, or 3.0 as a DataFrame export writes an integer column) is the label "3", and classes
/// that are all whole numbers are ordered by value (SequenceSet), so the model's class index is that number.
/// </summary>
internal static class ClassLabels
{
    // Beyond 2^53 a double no longer holds every whole number, so the text could name another number than the one sent.
    private const double LargestExact = 9007199254740992;

    /// <summary>The label the JSON number <paramref name="utf8"/> stands for; null when it is not a whole number.</summary>
    public static string? FromNumber(ReadOnlySpan<byte> utf8) =>
        double.TryParse(utf8, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) ? FromNumber(value) : null;

    /// <summary>The label a JSON value stands for: a string's text, a whole number's decimal text; null for anything else.</summary>
    public static string? FromJson(JsonElement label) => label.ValueKind switch
    {
        JsonValueKind.String => label.GetString(),
        JsonValueKind.Number when label.TryGetDouble(out double number) => FromNumber(number),
        _ => null,
    };

    /// <summary>The label the number <paramref name="value"/> stands for; null when it is not a whole number.</summary>
    public static string? FromNumber(double value) =>
        double.IsInteger(value) && Math.Abs(value) <= LargestExact ? ((long)value).ToString(CultureInfo.InvariantCulture) : null;
}
