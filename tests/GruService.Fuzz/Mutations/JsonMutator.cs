using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;

namespace GruService.Fuzz.Mutations;

/// <summary>
/// Mutations of JSON documents: structural ones on a <see cref="JsonNode"/> tree (values to boundary values, arrays
/// emptied, nested, flattened, lengthened; keys renamed, dropped, duplicated; subtrees swapped or deeply nested) and
/// textual ones on the serialised bytes (raw number spellings a tree cannot hold, truncation, invalid UTF-8, lone
/// surrogate escapes, comments, byte-level mutations).
/// </summary>
public static partial class JsonMutator
{
    /// <summary>Keys of every JSON document the service reads, so renames and additions hit real names too.</summary>
    private static readonly string[] KnownKeys =
    [
        "inputs", "Inputs", "INPUTS", "inputs ", "", "__metadata__", "config", "dtype", "shape", "data_offsets",
        "format", "task", "input_size", "hidden_size", "num_layers", "bidirectional", "linear_before_reset", "horizon",
        "output_size", "classes", "input_mean", "input_std", "target_mean", "target_std", "window_normalization",
        "target_inputs", "channel_independent", "segment_length", "model", "data", "series", "columns", "labels",
        "dataset", "validation_split", "window", "stride", "targets", "architecture", "hyperparameters", "epochs",
        "batch_size", "learning_rate", "optimizer", "seed", "activate", "head.weight", "gru.weight_ih_l0", "extra",
    ];

    private static readonly string[] InterestingStrings =
    [
        "", "NaN", "Infinity", "-Infinity", "1e999", "0", "-1", "forecast", "classify", "F32", "F16", "BF16", "F64",
        "I64", "U8", "f32", "gru-service/v1", "gru-service/v2", "\u0000", "\ud83d\ude00", "../../etc/passwd", "inputs",
        "none", "mean", "last", "adam", "adamw", "cosine", "huber", "ett-oil-temperature", new string('a', 10_000),
    ];

    /// <summary>Number spellings JSON allows but numeric types overflow on, and ones JSON does not allow at all.</summary>
    private static readonly string[] RawNumbers =
    [
        "1e999", "-1e999", "1e-400", "4.9e-324", "2.5e-324", "1" + new string('0', 400), "-" + new string('9', 30), "0." + new string('0', 400) + "1",
        "NaN", "Infinity", "-Infinity", "-0", "0x10", "1.", ".5", "01", "1e", "+1", "1_000", "\u0661", "1E+2", "3.4028236e38",
        "340282356779733661637539395458142568448", "9223372036854775808", "-9223372036854775809", "18446744073709551616",
    ];

    private static readonly byte[][] InvalidUtf8 =
    [
        [0xFF], [0xC0, 0xAF], [0xED, 0xA0, 0x80], [0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xFE, 0xFF], [0x00],
    ];

    /// <summary>Most nodes one lengthening adds.</summary>
    private const int MaxAddedNodes = 100_000;

    private const string DuplicateKeyMarker = "__fuzz_duplicate_key_marker__";

    private static readonly JsonSerializerOptions DeepWriter = new() { MaxDepth = 4096 };

    /// <summary>A boundary number: limits of int32/int64/float32/float64, zero, signs, powers of two, tiny values.</summary>
    public static JsonNode BoundaryNumber(Random random, double? near = null)
    {
        if (near is { } value && random.Next(3) == 0)
        {
            double[] around = [.. new[] { value + 1, value - 1, value * 2, -value, value * 1000, Math.Floor(value / 2) }.Where(double.IsFinite)];
            if (around.Length > 0) return JsonValue.Create(around[random.Next(around.Length)]);
        }
        return random.Next(26) switch
        {
            0 => JsonValue.Create(0),
            1 => JsonValue.Create(-1),
            2 => JsonValue.Create(1),
            3 => JsonValue.Create(2),
            4 => JsonValue.Create(3),
            5 => JsonValue.Create(255),
            6 => JsonValue.Create(4096),
            7 => JsonValue.Create(4097),
            8 => JsonValue.Create(65536),
            9 => JsonValue.Create(65537),
            10 => JsonValue.Create(int.MaxValue),
            11 => JsonValue.Create((long)int.MaxValue + 1),
            12 => JsonValue.Create(int.MinValue),
            13 => JsonValue.Create(uint.MaxValue),
            14 => JsonValue.Create(long.MaxValue),
            15 => JsonValue.Create(long.MinValue),
            16 => JsonValue.Create(ulong.MaxValue),
            17 => JsonValue.Create(1.5),
            18 => JsonValue.Create(-0.0),
            19 => JsonValue.Create(1e308),
            20 => JsonValue.Create(-1e308),
            21 => JsonValue.Create(3.4028235e38),
            22 => JsonValue.Create(3.5e38),
            23 => JsonValue.Create(1e-45),
            24 => JsonValue.Create(double.Epsilon),
            _ => JsonValue.Create(9007199254740993L),
        };
    }

    /// <summary>Any JSON value, leaning to the ones validation code tends to forget.</summary>
    public static JsonNode? InterestingValue(Random random) => random.Next(8) switch
    {
        0 or 1 or 2 => BoundaryNumber(random),
        3 or 4 => JsonValue.Create(InterestingStrings[random.Next(InterestingStrings.Length)]),
        5 => random.Next(2) == 0 ? JsonValue.Create(true) : JsonValue.Create(false),
        6 => null,
        _ => random.Next(2) == 0 ? new JsonObject() : new JsonArray(),
    };

    /// <summary>One structural mutation of the tree; returns the (possibly replaced) root.</summary>
    public static JsonNode? MutateTree(Random random, JsonNode? root, out string name)
    {
        List<JsonNode> nodes = [];
        Collect(root, nodes);
        if (nodes.Count == 0)
        {
            name = "replace_root";
            return InterestingValue(random);
        }
        JsonNode target = nodes[random.Next(nodes.Count)];
        switch (random.Next(12))
        {
            case 0:
                name = "replace_value";
                return Replace(root, target, InterestingValue(random));
            case 1:
            {
                name = "boundary_number";
                JsonNode? number = nodes.Where(n => n.GetValueKind() == JsonValueKind.Number).OrderBy(_ => random.Next()).FirstOrDefault();
                if (number is null) goto case 0;
                return Replace(root, number, BoundaryNumber(random, AsDouble(number)));
            }
            case 2:
                name = "nest";
                return Replace(root, target, new JsonArray(target.DeepClone()));
            case 3:
                name = "deep_nest";
                return Replace(root, target, Nest(target.DeepClone(), random.Next(4) == 0 ? random.Next(100, 2000) : random.Next(2, 20)));
            case 4:
                name = "swap_subtrees";
                JsonNode other = nodes[random.Next(nodes.Count)];
                if (IsAncestor(target, other) || IsAncestor(other, target)) goto case 0;
                JsonNode targetCopy = target.DeepClone(), otherCopy = other.DeepClone();
                root = Replace(root, target, otherCopy);
                return Replace(root, other, targetCopy);
        }
        if (nodes.OfType<JsonArray>().OrderBy(_ => random.Next()).FirstOrDefault() is { } array && random.Next(2) == 0)
        {
            switch (random.Next(5))
            {
                case 0:
                    name = "array_empty";
                    array.Clear();
                    return root;
                case 1:
                    name = "array_remove";
                    if (array.Count > 0) array.RemoveAt(random.Next(array.Count));
                    return root;
                case 2:
                {
                    name = "array_lengthen";
                    if (array.Count == 0)
                    {
                        array.Add(BoundaryNumber(random));
                        return root;
                    }
                    JsonNode? element = array[random.Next(array.Count)];
                    List<JsonNode> inside = [];
                    Collect(element, inside);
                    // Long arrays, but a bounded document: at most MaxAddedNodes new nodes (a body of a few MB at most),
                    // within the service's request limits and cheap to build.
                    int copies = random.Next(4) == 0 ? random.Next(100, 3000) : random.Next(1, 4);
                    copies = Math.Max(1, Math.Min(copies, MaxAddedNodes / Math.Max(1, inside.Count)));
                    for (int i = 0; i < copies; i++) array.Insert(random.Next(array.Count + 1), element?.DeepClone());
                    return root;
                }
                case 3:
                {
                    name = "array_flatten";
                    int index = array.Select((e, i) => (e, i)).Where(p => p.e is JsonArray).Select(p => p.i).DefaultIfEmpty(-1).First();
                    if (index < 0) goto default;
                    var inner = (JsonArray)array[index]!;
                    JsonNode?[] items = [.. inner.Select(e => e?.DeepClone())];
                    array.RemoveAt(index);
                    for (int i = items.Length - 1; i >= 0; i--) array.Insert(index, items[i]);
                    return root;
                }
                default:
                    name = "array_shuffle";
                    JsonNode?[] shuffled = [.. array.Select(e => e?.DeepClone()).OrderBy(_ => random.Next())];
                    array.Clear();
                    foreach (JsonNode? e in shuffled) array.Add(e);
                    return root;
            }
        }
        if (nodes.OfType<JsonObject>().OrderBy(_ => random.Next()).FirstOrDefault() is { } obj)
        {
            switch (random.Next(4))
            {
                case 0 when obj.Count > 0:
                    name = "key_remove";
                    obj.Remove(obj.ElementAt(random.Next(obj.Count)).Key);
                    return root;
                case 1 when obj.Count > 0:
                {
                    name = "key_rename";
                    var (key, value) = obj.ElementAt(random.Next(obj.Count));
                    string renamed = RenamedKey(random, key);
                    if (obj.ContainsKey(renamed)) return root;
                    obj.Remove(key);
                    obj[renamed] = value;
                    return root;
                }
                case 2:
                {
                    name = "key_add";
                    string key = KnownKeys[random.Next(KnownKeys.Length)];
                    obj[key] = InterestingValue(random);
                    return root;
                }
                default:
                    name = "value_of_object";
                    if (obj.Count == 0) goto case 2;
                    obj[obj.ElementAt(random.Next(obj.Count)).Key] = InterestingValue(random);
                    return root;
            }
        }
        name = "replace_value";
        return Replace(root, target, InterestingValue(random));
    }

    /// <summary>
    /// One textual mutation of serialised JSON: a duplicated key, a raw number spelling, a lone surrogate escape,
    /// invalid UTF-8, truncation, a byte-order mark, trailing bytes, comments or single quotes, or a byte-level mutation.
    /// </summary>
    public static byte[] MutateText(Random random, JsonNode? tree, byte[] json, out string name)
    {
        switch (random.Next(10))
        {
            case 0 when DuplicateKey(random, tree) is { } duplicated:
                name = "key_duplicate";
                return duplicated;
            case 1:
            {
                name = "raw_number";
                MatchCollection numbers = NumberToken().Matches(Encoding.UTF8.GetString(json));
                if (numbers.Count == 0) goto case 3;
                Match match = numbers[random.Next(numbers.Count)];
                string text = Encoding.UTF8.GetString(json);
                return Encoding.UTF8.GetBytes(string.Concat(text.AsSpan(0, match.Index), RawNumbers[random.Next(RawNumbers.Length)], text.AsSpan(match.Index + match.Length)));
            }
            case 2:
            {
                name = "string_escape";
                string text = Encoding.UTF8.GetString(json);
                int quote = text.IndexOf('"', random.Next(Math.Max(1, text.Length)));
                if (quote < 0) goto case 3;
                string[] escapes = [@"\ud800", @"\udc00", @"\u0000", @"\x41", @"\", @"\uZZZZ", "\t", "\n"];
                return Encoding.UTF8.GetBytes(text.Insert(quote + 1, escapes[random.Next(escapes.Length)]));
            }
            case 3:
            {
                name = "invalid_utf8";
                int at = random.Next(json.Length + 1);
                return [.. json.AsSpan(0, at), .. InvalidUtf8[random.Next(InvalidUtf8.Length)], .. json.AsSpan(at)];
            }
            case 4:
                name = "truncate";
                return json.Length == 0 ? json : json[..random.Next(json.Length)];
            case 5:
            {
                name = "wrap";
                string text = Encoding.UTF8.GetString(json);
                string[] wrapped =
                [
                    "\uFEFF" + text, text + "garbage", text + text, text + "}", "[" + text + "]", " \r\n\t" + text + "\n\n",
                    "/* c */" + text, text.Replace('"', '\''), new string('[', 5000) + new string(']', 5000), new string('{', 3000),
                    "{\"inputs\":" + new string('[', 100) + "1" + new string(']', 100) + "}", "null", "\"inputs\"", "[]", "", "   ",
                ];
                return Encoding.UTF8.GetBytes(wrapped[random.Next(wrapped.Length)]);
            }
            default:
                return ByteMutator.MutateOnce(random, json, out name);
        }
    }

    /// <summary>
    /// Parses JSON into a tree and decodes every key and string at once. JsonNode is lazy: a duplicate key, invalid
    /// UTF-8 or a lone surrogate escape would otherwise throw later, in the middle of a mutation. Null when it does not parse.
    /// </summary>
    public static JsonNode? TryParse(ReadOnlySpan<byte> json, out bool parsed)
    {
        try
        {
            JsonNode? node = JsonNode.Parse(json, documentOptions: new JsonDocumentOptions { MaxDepth = 4096 });
            Materialize(node);
            parsed = true;
            return node;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or ArgumentException)
        {
            parsed = false;
            return null;
        }
    }

    private static void Materialize(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (_, value) in obj) Materialize(value);
                break;
            case JsonArray array:
                foreach (JsonNode? item in array) Materialize(item);
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                _ = value.GetValue<string>();
                break;
        }
    }

    /// <summary>The tree serialised as UTF-8 (deep nesting allowed); null is written as JSON null.</summary>
    public static byte[] Serialize(JsonNode? node) =>
        node is null ? "null"u8.ToArray() : JsonSerializer.SerializeToUtf8Bytes(node, DeepWriter);

    /// <summary>A copy of the tree with one property written twice (a tree cannot hold that, so it is done in the text).</summary>
    private static byte[]? DuplicateKey(Random random, JsonNode? tree)
    {
        JsonNode? copy = tree?.DeepClone();
        List<JsonNode> nodes = [];
        Collect(copy, nodes);
        if (nodes.OfType<JsonObject>().Where(o => o.Count > 0).OrderBy(_ => random.Next()).FirstOrDefault() is not { } obj) return null;
        var (key, value) = obj.ElementAt(random.Next(obj.Count));
        JsonNode? duplicate = random.Next(2) == 0 ? value?.DeepClone() : InterestingValue(random);
        obj[DuplicateKeyMarker] = duplicate;
        string escapedKey = JsonSerializer.Serialize(key);
        return Encoding.UTF8.GetBytes(Encoding.UTF8.GetString(Serialize(copy)).Replace($"\"{DuplicateKeyMarker}\"", escapedKey));
    }

    /// <summary>A number node's value, whichever CLR type it was created from.</summary>
    private static double? AsDouble(JsonNode number) =>
        double.TryParse(number.ToJsonString(), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double value)
            ? value
            : null;

    private static string RenamedKey(Random random, string key) => random.Next(5) switch
    {
        0 => key.ToUpperInvariant(),
        1 => key + "_",
        2 => key.Length > 1 ? key[..^1] : "",
        3 => " " + key,
        _ => KnownKeys[random.Next(KnownKeys.Length)],
    };

    private static JsonNode Nest(JsonNode? inner, int depth)
    {
        JsonNode node = new JsonArray(inner);
        for (int i = 1; i < depth; i++) node = new JsonArray(node);
        return node;
    }

    private static void Collect(JsonNode? node, List<JsonNode> nodes)
    {
        if (node is null) return;
        nodes.Add(node);
        switch (node)
        {
            case JsonObject obj:
                foreach (var (_, value) in obj) Collect(value, nodes);
                break;
            case JsonArray array:
                foreach (JsonNode? item in array) Collect(item, nodes);
                break;
        }
    }

    private static bool IsAncestor(JsonNode ancestor, JsonNode node)
    {
        for (JsonNode? p = node.Parent; p is not null; p = p.Parent)
            if (ReferenceEquals(p, ancestor)) return true;
        return false;
    }

    /// <summary>Puts <paramref name="replacement"/> where <paramref name="target"/> is; returns the root.</summary>
    private static JsonNode? Replace(JsonNode? root, JsonNode target, JsonNode? replacement)
    {
        if (ReferenceEquals(root, target) || target.Parent is null) return replacement;
        switch (target.Parent)
        {
            case JsonObject parent:
                parent[target.GetPropertyName()] = replacement;
                break;
            case JsonArray parent:
                parent[target.GetElementIndex()] = replacement;
                break;
        }
        return root;
    }

    [GeneratedRegex(@"-?\d+(\.\d+)?([eE][+-]?\d+)?")]
    private static partial Regex NumberToken();
}
