using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace GruService.Fuzz.Mutations;

/// <summary>
/// Mutations that know the safetensors layout (8-byte header length, JSON header, data section) and the model
/// config inside the header, so they get past the first checks and reach the deeper ones: shapes, offsets and dtypes
/// at boundary values, tensors swapped, duplicated or dropped, config numbers at and past their limits, length
/// prefixes that lie, non-finite weights. Format-blind byte mutations are mixed in.
/// </summary>
public static class ModelFileMutator
{
    private static readonly string[] DTypes = ["F32", "F16", "BF16", "F64", "I32", "I64", "U8", "BOOL", "f32", "", "F32 "];

    private static readonly string[] ConfigNumbers = ["input_size", "hidden_size", "num_layers", "horizon", "output_size", "segment_length"];

    /// <summary>One mutation; <paramref name="other"/> is another seed file for splicing.</summary>
    public static byte[] Mutate(Random random, byte[] file, byte[] other, out string name)
    {
        bool split = TrySplit(file, out JsonObject? header, out int headerEnd);
        switch (random.Next(20))
        {
            case < 6 when split:
                JsonObject mutated = MutateHeader(random, header!, out name);
                return Assemble(random, JsonMutator.Serialize(mutated), file.AsSpan(headerEnd));
            case < 8 when split:
            {
                byte[] headerText = JsonMutator.MutateText(random, header, file[8..headerEnd], out string textMutation);
                name = "header_text_" + textMutation;
                return Assemble(random, headerText, file.AsSpan(headerEnd));
            }
            case < 9 when split:
            {
                name = "length_prefix";
                byte[] output = (byte[])file.Clone();
                ulong length = (ulong)(headerEnd - 8);
                ulong[] lies = [0, 1, 2, length - 1, length + 1, (ulong)(file.Length - 8), (ulong)(file.Length - 7), ulong.MaxValue, 1UL << 31, 1UL << 32, long.MaxValue, 1024 * 1024 + 1, 7];
                BinaryPrimitives.WriteUInt64LittleEndian(output, lies[random.Next(lies.Length)]);
                return output;
            }
            case < 11 when split:
                name = "data_float";
                return ByteMutator.InterestingFloat(random, file, headerEnd, file.Length);
            case < 15 when split:
            {
                byte[] output = ByteMutator.MutateRange(random, file, 8, headerEnd, out string byteMutation);
                name = "header_bytes_" + byteMutation;
                return output;
            }
            case < 16:
                name = "splice";
                return ByteMutator.Splice(random, file, other);
            case < 17:
            {
                byte[] output = ByteMutator.MutateRange(random, file, 0, Math.Min(file.Length, 8), out string byteMutation);
                name = "prefix_bytes_" + byteMutation;
                return output;
            }
            default:
            {
                byte[] output = ByteMutator.MutateOnce(random, file, out string byteMutation);
                name = "bytes_" + byteMutation;
                return output;
            }
        }
    }

    /// <summary>The header as a JSON object and where the data section starts, when the file still has them.</summary>
    public static bool TrySplit(byte[] file, out JsonObject? header, out int headerEnd)
    {
        header = null;
        headerEnd = 0;
        if (file.Length < 8) return false;
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(file);
        if (length > (ulong)(file.Length - 8)) return false;
        headerEnd = 8 + (int)length;
        header = JsonMutator.TryParse(file.AsSpan(8, (int)length), out _) as JsonObject;
        return header is not null;
    }

    /// <summary>A file with this header (length prefix true to it, sometimes padded as Python pads) and this data section.</summary>
    public static byte[] Assemble(Random random, byte[] header, ReadOnlySpan<byte> data)
    {
        int padding = random.Next(4) == 0 ? (8 - header.Length % 8) % 8 : 0;
        var file = new byte[8 + header.Length + padding + data.Length];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)(header.Length + padding));
        header.CopyTo(file, 8);
        file.AsSpan(8 + header.Length, padding).Fill((byte)' ');
        data.CopyTo(file.AsSpan(8 + header.Length + padding));
        return file;
    }

    private static JsonObject MutateHeader(Random random, JsonObject header, out string name)
    {
        List<string> tensors = [.. header.Where(p => p.Key != "__metadata__" && p.Value is JsonObject).Select(p => p.Key)];
        JsonObject? Entry() => tensors.Count == 0 ? null : header[tensors[random.Next(tensors.Count)]] as JsonObject;
        switch (random.Next(10))
        {
            case 0 when Entry() is { } entry && entry["shape"] is JsonArray shape:
                name = "shape";
                switch (random.Next(4))
                {
                    case 0: shape.Add(JsonMutator.BoundaryNumber(random)); break;
                    case 1 when shape.Count > 0: shape.RemoveAt(random.Next(shape.Count)); break;
                    default:
                        if (shape.Count == 0) shape.Add(JsonMutator.BoundaryNumber(random));
                        else shape[random.Next(shape.Count)] = JsonMutator.BoundaryNumber(random);
                        break;
                }
                return header;
            case 1 when Entry() is { } entry && entry["data_offsets"] is JsonArray { Count: 2 } offsets:
            {
                name = "data_offsets";
                int which = random.Next(2);
                offsets[which] = offsets[which] is JsonValue value && value.TryGetValue(out long current) && random.Next(2) == 0
                    ? JsonValue.Create(current + random.Next(-8, 9))
                    : JsonMutator.BoundaryNumber(random);
                return header;
            }
            case 2 when Entry() is { } entry:
                name = "dtype";
                entry["dtype"] = DTypes[random.Next(DTypes.Length)];
                return header;
            case 3 when tensors.Count >= 2:
            {
                // Two tensors trade places: names (so shapes go to the wrong parameter) or only their data.
                string a = tensors[random.Next(tensors.Count)], b = tensors[random.Next(tensors.Count)];
                var first = (JsonObject)header[a]!;
                var second = (JsonObject)header[b]!;
                if (random.Next(2) == 0)
                {
                    name = "swap_tensors";
                    header[a] = second.DeepClone();
                    header[b] = first.DeepClone();
                }
                else
                {
                    name = "swap_offsets";
                    JsonNode? offsets = first["data_offsets"]?.DeepClone();
                    first["data_offsets"] = second["data_offsets"]?.DeepClone();
                    second["data_offsets"] = offsets;
                }
                return header;
            }
            case 4 when tensors.Count > 0:
            {
                string source = tensors[random.Next(tensors.Count)];
                if (random.Next(2) == 0)
                {
                    name = "drop_tensor";
                    header.Remove(source);
                }
                else
                {
                    name = "copy_tensor";
                    string[] names = ["gru.weight_ih_l1", "gru.weight_hh_l0_reverse", "gru.bias_ih_l7", "head.weight2", source + " ", "__metadata__"];
                    string target = names[random.Next(names.Length)];
                    if (!header.ContainsKey(target)) header[target] = header[source]!.DeepClone();
                }
                return header;
            }
            case 5 or 6 when ConfigText(header) is { } configText:
            {
                header["__metadata__"]!["config"] = MutateConfig(random, configText, out string configMutation);
                name = "config_" + configMutation;
                return header;
            }
            case 7 when header["__metadata__"] is JsonObject metadata:
                name = "metadata";
                metadata[random.Next(2) == 0 ? "config" : "description"] = JsonMutator.InterestingValue(random);
                return header;
            default:
            {
                JsonNode? mutated = JsonMutator.MutateTree(random, header, out string treeMutation);
                name = "header_tree_" + treeMutation;
                return mutated as JsonObject ?? header;
            }
        }
    }

    private static string? ConfigText(JsonObject header) =>
        header["__metadata__"] is JsonObject metadata && metadata["config"] is JsonValue value && value.GetValueKind() == JsonValueKind.String
            ? value.GetValue<string>()
            : null;

    /// <summary>The config JSON text with one mutation: a numeric field at a boundary, a flag flipped, or any tree or text mutation.</summary>
    private static string MutateConfig(Random random, string configText, out string name)
    {
        JsonNode? config = JsonMutator.TryParse(Encoding.UTF8.GetBytes(configText), out bool parsed);
        if (!parsed)
        {
            name = "text_bytes";
            return Encoding.UTF8.GetString(ByteMutator.MutateOnce(random, Encoding.UTF8.GetBytes(configText), out _));
        }
        if (config is JsonObject obj && random.Next(2) == 0)
        {
            switch (random.Next(4))
            {
                case 0 or 1:
                    name = "number";
                    obj[ConfigNumbers[random.Next(ConfigNumbers.Length)]] = JsonMutator.BoundaryNumber(random);
                    break;
                case 2:
                    name = "flag";
                    string[] flags = ["bidirectional", "linear_before_reset", "channel_independent"];
                    obj[flags[random.Next(flags.Length)]] = random.Next(2) == 0;
                    break;
                default:
                    name = "task";
                    obj["task"] = obj["task"]?.ToString() == "forecast" ? "classify" : "forecast";
                    break;
            }
            return Encoding.UTF8.GetString(JsonMutator.Serialize(obj));
        }
        if (random.Next(3) == 0)
        {
            byte[] text = JsonMutator.MutateText(random, config, Encoding.UTF8.GetBytes(configText), out string textMutation);
            name = "text_" + textMutation;
            return Encoding.UTF8.GetString(text);
        }
        JsonNode? mutated = JsonMutator.MutateTree(random, config, out string treeMutation);
        name = "tree_" + treeMutation;
        return Encoding.UTF8.GetString(JsonMutator.Serialize(mutated));
    }
}
