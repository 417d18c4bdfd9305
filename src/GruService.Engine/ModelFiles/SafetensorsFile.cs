using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace GruService.Engine.ModelFiles;

/// <summary>One tensor entry of a safetensors header; offsets are relative to the data section.</summary>
public sealed record SafetensorsEntry(string Name, string DType, long[] Shape, long Begin, long End)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// The safetensors container: an 8-byte little-endian header length, a JSON header, then raw little-endian
/// tensor data. Parsing checks every length and offset against the file before trusting it.
/// </summary>
public sealed class SafetensorsFile
{
    private static readonly Dictionary<string, int> DTypeSizes = new() { ["F32"] = 4, ["F16"] = 2, ["BF16"] = 2 };

    private readonly ReadOnlyMemory<byte> _data;

    private SafetensorsFile(Dictionary<string, SafetensorsEntry> tensors, Dictionary<string, string> metadata, ReadOnlyMemory<byte> data)
    {
        Tensors = tensors;
        Metadata = metadata;
        _data = data;
    }

    public IReadOnlyDictionary<string, SafetensorsEntry> Tensors { get; }
    public IReadOnlyDictionary<string, string> Metadata { get; }

    public static SafetensorsFile Parse(ReadOnlyMemory<byte> file, ModelLimits limits)
    {
        ReadOnlySpan<byte> bytes = file.Span;
        if (bytes.Length > limits.MaxFileBytes)
            throw new ModelFileException($"The file is {bytes.Length} bytes; the limit is {limits.MaxFileBytes}.");
        if (bytes.Length < 8)
            throw new ModelFileException($"The file is {bytes.Length} bytes: too short for the 8-byte safetensors header length.");
        // A zip's first four bytes read as a header length of at least 67 MB, past the header limit, so no safetensors
        // file starts this way; a pickle's can be a real length's first bytes, so it is only named when the length fails.
        if (bytes.StartsWith("PK\u0003\u0004"u8))
            throw new ModelFileException(PickleAdvice("a zip archive (it starts with PK\\x03\\x04), as torch.save writes"));
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(bytes);
        if (headerLength > (ulong)(bytes.Length - 8))
            throw new ModelFileException(bytes[0] == 0x80 && bytes[1] is >= 2 and <= 5
                ? PickleAdvice("a Python pickle (it starts with the pickle protocol's 0x80), as torch.save(..., _use_new_zipfile_serialization=False) and pickle.dump write")
                : $"The header length {headerLength} runs past the end of the {bytes.Length}-byte file.");
        if (headerLength > (ulong)limits.MaxHeaderBytes)
            throw new ModelFileException($"The header is {headerLength} bytes; the limit is {limits.MaxHeaderBytes}.");
        if (headerLength < 2)
            throw new ModelFileException($"The header length {headerLength} is too short for a JSON object.");

        ReadOnlyMemory<byte> header = file.Slice(8, (int)headerLength);
        ReadOnlyMemory<byte> data = file.Slice(8 + (int)headerLength);

        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(header, new JsonDocumentOptions { MaxDepth = 16 });
        }
        catch (JsonException e)
        {
            throw new ModelFileException($"The header is not valid JSON: {e.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
                throw new ModelFileException("The header is not a JSON object.");
            JsonText.CheckStrings(document.RootElement, "header");

            var tensors = new Dictionary<string, SafetensorsEntry>(StringComparer.Ordinal);
            var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
            bool seenMetadata = false;
            foreach (JsonProperty property in document.RootElement.EnumerateObject())
            {
                if (property.Name == "__metadata__")
                {
                    // JSON parsers disagree on which duplicate wins; a file that means different things to different readers is refused.
                    if (seenMetadata)
                        throw new ModelFileException("__metadata__ appears twice in the header.");
                    seenMetadata = true;
                    ReadMetadata(property.Value, metadata);
                }
                else if (!tensors.TryAdd(property.Name, ReadEntry(property.Name, property.Value, data.Length)))
                    throw new ModelFileException($"Tensor '{property.Name}' appears twice in the header.");
            }
            CheckCoverage(tensors.Values, data.Length);
            return new SafetensorsFile(tensors, metadata, data);
        }
    }

    /// <summary>
    /// What to do with a pickled PyTorch checkpoint (a .pt or .pth file), the usual wrong upload: the service reads
    /// only safetensors, since unpickling runs whatever code the file holds.
    /// </summary>
    private static string PickleAdvice(string what) =>
        $"The file is {what}: a pickled PyTorch checkpoint, not a safetensors file. GruService does not read pickles, since loading one runs code "
        + "from the file. Save the weights with safetensors instead: safetensors.torch.save_file(model.state_dict(), \"model.safetensors\", "
        + "metadata={\"config\": json.dumps(config)}); see docs/model-format.md.";

    /// <summary>The tensor's values as float32, converting F16 and BF16.</summary>
    public float[] ReadFloat32(SafetensorsEntry entry)
    {
        ReadOnlySpan<byte> raw = _data.Span[(int)entry.Begin..(int)entry.End];
        var values = new float[entry.ElementCount];
        switch (entry.DType)
        {
            case "F32":
                for (int i = 0; i < values.Length; i++)
                    values[i] = BinaryPrimitives.ReadSingleLittleEndian(raw.Slice(i * 4));
                break;
            case "F16":
                for (int i = 0; i < values.Length; i++)
                    values[i] = (float)BinaryPrimitives.ReadHalfLittleEndian(raw.Slice(i * 2));
                break;
            case "BF16":
                // bfloat16 is the upper half of a float32.
                for (int i = 0; i < values.Length; i++)
                    values[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(raw.Slice(i * 2)) << 16);
                break;
            default:
                throw new ModelFileException($"Tensor '{entry.Name}' has dtype {entry.DType}.");
        }
        return values;
    }

    /// <summary>Writes float32 tensors and string metadata as a safetensors file, header padded to 8 bytes.</summary>
    public static byte[] Write(IEnumerable<KeyValuePair<string, (long[] Shape, float[] Values)>> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var list = tensors.ToList();
        using var headerStream = new MemoryStream();
        using (var json = new Utf8JsonWriter(headerStream))
        {
            json.WriteStartObject();
            json.WriteStartObject("__metadata__");
            foreach (var (key, value) in metadata) json.WriteString(key, value);
            json.WriteEndObject();
            long offset = 0;
            foreach (var (name, (shape, values)) in list)
            {
                json.WriteStartObject(name);
                json.WriteString("dtype", "F32");
                json.WriteStartArray("shape");
                foreach (long dim in shape) json.WriteNumberValue(dim);
                json.WriteEndArray();
                json.WriteStartArray("data_offsets");
                json.WriteNumberValue(offset);
                json.WriteNumberValue(offset + values.Length * 4L);
                json.WriteEndArray();
                json.WriteEndObject();
                offset += values.Length * 4L;
            }
            json.WriteEndObject();
        }
        int padding = (int)((8 - headerStream.Length % 8) % 8);
        for (int i = 0; i < padding; i++) headerStream.WriteByte((byte)' ');
        long dataLength = list.Sum(t => t.Value.Values.Length * 4L);
        var file = new byte[8 + headerStream.Length + dataLength];
        BinaryPrimitives.WriteUInt64LittleEndian(file, (ulong)headerStream.Length);
        headerStream.ToArray().CopyTo(file, 8);
        int position = 8 + (int)headerStream.Length;
        foreach (var (_, (_, values)) in list)
        {
            foreach (float v in values)
            {
                BinaryPrimitives.WriteSingleLittleEndian(file.AsSpan(position), v);
                position += 4;
            }
        }
        return file;
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new ModelFileException("__metadata__ is not a JSON object.");
        foreach (JsonProperty item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw new ModelFileException($"__metadata__ key '{item.Name}' is not a string (safetensors metadata values are strings).");
            if (!metadata.TryAdd(item.Name, item.Value.GetString()!))
                throw new ModelFileException($"__metadata__ key '{item.Name}' appears twice.");
        }
    }

    private static SafetensorsEntry ReadEntry(string name, JsonElement value, long dataLength)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw new ModelFileException($"Tensor '{name}' is not described by a JSON object.");
        // TryGetProperty would silently pick one of two "dtype" or "data_offsets" keys; the reference reader refuses them.
        var keys = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonProperty property in value.EnumerateObject())
            if (!keys.Add(property.Name))
                throw new ModelFileException($"Tensor '{name}' has key '{property.Name}' twice.");
        if (!value.TryGetProperty("dtype", out JsonElement dtypeElement) || dtypeElement.ValueKind != JsonValueKind.String)
            throw new ModelFileException($"Tensor '{name}' has no dtype string.");
        string dtype = dtypeElement.GetString()!;
        if (!DTypeSizes.TryGetValue(dtype, out int elementSize))
            throw new ModelFileException($"Tensor '{name}' has dtype {dtype}; only F32, F16 and BF16 are accepted.");

        if (!value.TryGetProperty("shape", out JsonElement shapeElement) || shapeElement.ValueKind != JsonValueKind.Array)
            throw new ModelFileException($"Tensor '{name}' has no shape array.");
        int rank = shapeElement.GetArrayLength();
        if (rank > 8)
            throw new ModelFileException($"Tensor '{name}' has {rank} dimensions; at most 8 are accepted.");
        var shape = new long[rank];
        long count = 1;
        int i = 0;
        foreach (JsonElement dim in shapeElement.EnumerateArray())
        {
            if (dim.ValueKind != JsonValueKind.Number || !dim.TryGetInt64(out long d) || d < 0)
                throw new ModelFileException($"Tensor '{name}' has a shape entry that is not a non-negative integer.");
            shape[i++] = d;
            // Saturate rather than overflow: a count past the data section can never match its offsets.
            count = d == 0 || count == 0 ? 0 : count > (dataLength + 1) / d ? dataLength + 1 : count * d;
        }
        if (count > dataLength)
            throw new ModelFileException($"Tensor '{name}' has shape [{string.Join(", ", shape)}], more elements than the {dataLength}-byte data section holds.");

        if (!value.TryGetProperty("data_offsets", out JsonElement offsets) || offsets.ValueKind != JsonValueKind.Array || offsets.GetArrayLength() != 2)
            throw new ModelFileException($"Tensor '{name}' has no data_offsets pair.");
        // TryGetInt64 throws InvalidOperationException on anything but a number, so the kind is checked first.
        if (offsets[0].ValueKind != JsonValueKind.Number || offsets[1].ValueKind != JsonValueKind.Number
            || !offsets[0].TryGetInt64(out long begin) || !offsets[1].TryGetInt64(out long end) || begin < 0 || end < begin)
            throw new ModelFileException($"Tensor '{name}' has data_offsets that are not a non-negative, ordered pair.");
        if (end > dataLength)
            throw new ModelFileException($"Tensor '{name}' has data_offsets [{begin}, {end}] past the end of the {dataLength}-byte data section.");
        if (count * elementSize != end - begin)
            throw new ModelFileException($"Tensor '{name}' has shape [{string.Join(", ", shape)}] of {dtype} ({count * elementSize} bytes) but data_offsets span {end - begin} bytes.");
        return new SafetensorsEntry(name, dtype, shape, begin, end);
    }

    private static void CheckCoverage(IEnumerable<SafetensorsEntry> entries, long dataLength)
    {
        long expected = 0;
        foreach (SafetensorsEntry entry in entries.Where(e => e.End > e.Begin).OrderBy(e => e.Begin))
        {
            if (entry.Begin < expected)
                throw new ModelFileException($"Tensor '{entry.Name}' overlaps another tensor's data at byte {entry.Begin}.");
            if (entry.Begin > expected)
                throw new ModelFileException($"Bytes {expected} to {entry.Begin} of the data section belong to no tensor.");
            expected = entry.End;
        }
        if (expected != dataLength)
            throw new ModelFileException($"Bytes {expected} to {dataLength} of the data section belong to no tensor.");
    }
}

/// <summary>Checks shared by the safetensors header and the config JSON.</summary>
internal static class JsonText
{
    /// <summary>
    /// System.Text.Json checks JSON syntax when parsing but decodes strings only when they are read, so invalid UTF-8
    /// or an escaped lone surrogate (<c>"\ud800"</c>) would surface later as an InvalidOperationException from
    /// GetString, a property name or even TryGetProperty. Decoding every key and string once, up front, turns that
    /// into a <see cref="ModelFileException"/> that says where the bad text is.
    /// </summary>
    public static void CheckStrings(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                int index = 0;
                foreach (JsonProperty property in element.EnumerateObject())
                {
                    string name;
                    try
                    {
                        name = property.Name;
                    }
                    catch (InvalidOperationException)
                    {
                        throw new ModelFileException($"Key {index} of {path} is not valid UTF-8/UTF-16 text.");
                    }
                    CheckStrings(property.Value, $"{path}.{name}");
                    index++;
                }
                break;
            case JsonValueKind.Array:
                int i = 0;
                foreach (JsonElement item in element.EnumerateArray())
                    CheckStrings(item, $"{path}[{i++}]");
                break;
            case JsonValueKind.String:
                try
                {
                    element.GetString();
                }
                catch (InvalidOperationException)
                {
                    throw new ModelFileException($"The string at {path} is not valid UTF-8/UTF-16 text.");
                }
                break;
        }
    }
}
