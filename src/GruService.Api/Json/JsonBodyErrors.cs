using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;

namespace GruService.Api.Json;

/// <summary>
/// Words the errors of reading a JSON body into a request type as the API's other errors are worded: the place as a
/// JSON path, what was sent there and what is expected ("'hyperparameters.epochs' is "3"; it must be an integer."), or
/// the unknown property and the known one nearest to it. The serializer's own messages name .NET types and members.
/// </summary>
internal static class JsonBodyErrors
{
    private const int ShownValueChars = 40;

    /// <summary>For a body that is not JSON at all: what the reader found wrong, and where.</summary>
    public static string NotJson(JsonException e)
    {
        string message = e.Message;
        int position = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
        if (position > 0) message = message[..position];
        return $"The body is not valid JSON (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}): {message}";
    }

    /// <summary>
    /// For a JSON body that does not fit <paramref name="type"/>: the exception's path is walked through the type's
    /// contract and the body side by side, so the answer can name the expected kind of value and show the one sent.
    /// </summary>
    public static string Describe(JsonException e, JsonElement body, JsonTypeInfo type)
    {
        if (ParsePath(e.Path) is not { } segments)
            return Unreadable(e);
        JsonTypeInfo expected = type;
        JsonElement? sent = body;
        string place = "";
        for (int i = 0; i < segments.Count; i++)
        {
            (string? name, int index) = segments[i];
            JsonTypeInfo? next;
            switch (expected.Kind)
            {
                case JsonTypeInfoKind.Object when name is not null:
                    JsonPropertyInfo? property = expected.Properties.FirstOrDefault(p => NameMatches(p.Name, name, expected.Options));
                    if (property is null)
                        return i == segments.Count - 1 ? UnknownProperty(place, name, expected) : Unreadable(e);
                    next = expected.Options.GetTypeInfo(property.PropertyType);
                    break;
                case JsonTypeInfoKind.Dictionary when name is not null:
                case JsonTypeInfoKind.Enumerable when name is null:
                    next = expected.ElementType is { } element ? expected.Options.GetTypeInfo(element) : null;
                    break;
                default:
                    next = null;
                    break;
            }
            if (next is null) return Unreadable(e);
            expected = next;
            sent = sent is { } container ? Child(container, name, index, expected.Options) : null;
            place = name is null ? $"{place}[{index}]" : place.Length == 0 ? name : $"{place}.{name}";
        }

        string subject = place.Length == 0 ? "The body" : $"'{place}'";
        // The reader takes any bytes in a string; turning them into text is where bytes that are not UTF-8 fail.
        if (e.InnerException?.InnerException is DecoderFallbackException)
            return $"{subject} holds text that is not valid UTF-8; send the body in UTF-8.";
        string? kind = Expected(expected, sent, plural: false);
        if (kind is null) return Unreadable(e);
        return sent is { } value ? $"{subject} is {Shown(value)}; it must be {kind}." : $"{subject} must be {kind}.";
    }

    private static string UnknownProperty(string place, string name, JsonTypeInfo owner)
    {
        string full = place.Length == 0 ? name : $"{place}.{name}";
        string prefix = place.Length == 0 ? "" : $"{place}.";
        string[] known = [.. owner.Properties.Select(p => p.Name)];
        return Nearest(name, known) is { } suggestion
            ? $"Unknown property '{full}'; did you mean '{prefix}{suggestion}'?"
            : $"Unknown property '{full}'; {(place.Length == 0 ? "the body's properties" : $"the properties of '{place}'")} are {string.Join(", ", known)}.";
    }

    /// <summary>
    /// The known name a typo most likely meant: the same letters in another case or without separators
    /// ("hiddenSize"), or at most two edits away ("epoch", "datset") for names long enough that two edits are a typo.
    /// </summary>
    private static string? Nearest(string name, string[] known)
    {
        string plain = Plain(name);
        string? best = null;
        int bestDistance = int.MaxValue;
        foreach (string candidate in known)
        {
            int distance = plain == Plain(candidate) ? 0 : EditDistance(plain, Plain(candidate));
            if (distance < bestDistance) (best, bestDistance) = (candidate, distance);
        }
        int allowed = plain.Length <= 3 ? 0 : plain.Length <= 5 ? 1 : 2;
        return bestDistance <= allowed ? best : null;

        static string Plain(string s) => new([.. s.ToLowerInvariant().Where(char.IsLetterOrDigit)]);
    }

    private static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (int j = 1; j <= b.Length; j++)
                current[j] = Math.Min(Math.Min(current[j - 1] + 1, previous[j] + 1), previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    /// <summary>What the contract takes at a place, in words; null for a kind this does not know how to say.</summary>
    private static string? Expected(JsonTypeInfo info, JsonElement? sent, bool plural)
    {
        switch (info.Kind)
        {
            case JsonTypeInfoKind.Object:
                return plural ? "objects" : "an object";
            case JsonTypeInfoKind.Enumerable:
                return Expected(info.Options.GetTypeInfo(info.ElementType!), null, plural: true) is { } items
                    ? plural ? $"arrays of {items}" : $"an array of {items}"
                    : null;
            case JsonTypeInfoKind.Dictionary:
                return Expected(info.Options.GetTypeInfo(info.ElementType!), null, plural: true) is { } values
                    ? plural ? $"objects whose values are {values}" : $"an object whose values are {values}"
                    : null;
        }
        Type type = Nullable.GetUnderlyingType(info.Type) ?? info.Type;
        if (type == typeof(string)) return plural ? "strings" : "a string";
        if (type == typeof(bool)) return "true or false";
        if (type == typeof(double) || type == typeof(float) || type == typeof(decimal)) return plural ? "numbers" : "a number";
        if (IntegerRange(type) is not { } range) return null;
        // A whole number was sent and refused: it is out of range, so say the range.
        bool wholeNumber = sent is { ValueKind: JsonValueKind.Number } number && number.GetRawText().AsSpan().IndexOfAny(".eE") < 0;
        return (plural ? "integers" : "an integer") + (wholeNumber ? $" from {range.Min} to {range.Max}" : "");
    }

    private static (string Min, string Max)? IntegerRange(Type type) => type switch
    {
        _ when type == typeof(int) => (int.MinValue.ToString(CultureInfo.InvariantCulture), int.MaxValue.ToString(CultureInfo.InvariantCulture)),
        _ when type == typeof(long) => (long.MinValue.ToString(CultureInfo.InvariantCulture), long.MaxValue.ToString(CultureInfo.InvariantCulture)),
        _ when type == typeof(uint) => ("0", uint.MaxValue.ToString(CultureInfo.InvariantCulture)),
        _ when type == typeof(ulong) => ("0", ulong.MaxValue.ToString(CultureInfo.InvariantCulture)),
        _ => null,
    };

    /// <summary>
    /// The value as sent, shortened; objects and arrays by their kind. Decoded leniently: the text may hold bytes that
    /// are not UTF-8, which is what the serializer refused.
    /// </summary>
    private static string Shown(JsonElement value)
    {
        if (value.ValueKind == JsonValueKind.Object) return "an object";
        if (value.ValueKind == JsonValueKind.Array) return "an array";
        string text = Encoding.UTF8.GetString(JsonMarshal.GetRawUtf8Value(value));
        return text.Length > ShownValueChars ? $"{text[..ShownValueChars]}…" : text;
    }

    private static JsonElement? Child(JsonElement container, string? name, int index, JsonSerializerOptions options)
    {
        if (name is null)
            return container.ValueKind == JsonValueKind.Array && index < container.GetArrayLength() ? container[index] : null;
        if (container.ValueKind != JsonValueKind.Object) return null;
        JsonElement? match = null;
        // The last of repeated names is the one the serializer read.
        foreach (JsonProperty property in container.EnumerateObject())
            if (NameMatches(Encoding.UTF8.GetString(JsonMarshal.GetRawUtf8PropertyName(property)), name, options)) match = property.Value;
        return match;
    }

    private static bool NameMatches(string a, string b, JsonSerializerOptions options) =>
        string.Equals(a, b, options.PropertyNameCaseInsensitive ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);

    /// <summary>
    /// The serializer's path ($.a.b[2]['c d']) as property names (index unused) and array indices (name null); null for
    /// a path this does not read.
    /// </summary>
    private static List<(string? Name, int Index)>? ParsePath(string? path)
    {
        if (path is null || !path.StartsWith('$')) return null;
        var segments = new List<(string?, int)>();
        int i = 1;
        while (i < path.Length)
        {
            if (path[i] == '.')
            {
                int end = path.IndexOfAny(['.', '['], i + 1);
                if (end < 0) end = path.Length;
                segments.Add((path[(i + 1)..end], 0));
                i = end;
            }
            else if (path.AsSpan(i).StartsWith("['"))
            {
                int end = path.IndexOf("']", i + 2, StringComparison.Ordinal);
                if (end < 0) return null;
                segments.Add((path[(i + 2)..end], 0));
                i = end + 2;
            }
            else if (path[i] == '[')
            {
                int end = path.IndexOf(']', i);
                if (end < 0 || !int.TryParse(path.AsSpan(i + 1, end - i - 1), NumberStyles.None, CultureInfo.InvariantCulture, out int index)) return null;
                segments.Add((null, index));
                i = end + 1;
            }
            else
            {
                return null;
            }
        }
        return segments;
    }

    /// <summary>A failure this cannot place in the contract: the place the serializer gives, and where it is in the text.</summary>
    private static string Unreadable(JsonException e) =>
        $"The body cannot be read at {e.Path ?? "$"} (line {e.LineNumber + 1}, byte {e.BytePositionInLine + 1}).";
}
