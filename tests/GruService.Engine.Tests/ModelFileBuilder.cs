using System.Buffers.Binary;
using System.Text;
using System.Text.Json.Nodes;
using GruService.Engine.ModelFiles;

namespace GruService.Engine.Tests;

/// <summary>One tensor as it will be laid out in the data section: any dtype name, any shape, raw bytes.</summary>
internal sealed class TensorSpec(string name, string dtype, long[] shape, byte[] data)
{
    public string Name { get; set; } = name;
    public string DType { get; set; } = dtype;
    public long[] Shape { get; set; } = shape;
    public byte[] Data { get; set; } = data;
}

/// <summary>
/// Builds a valid model file without going through <see cref="ModelFile.Write"/>, so a test can break exactly one
/// part of it: the config object or its text, the other metadata, a tensor, the header JSON or its text, the header
/// length, or the bytes after the header. Each edit hook runs on the otherwise valid file.
/// </summary>
internal sealed class ModelFileBuilder
{
    private ModelFileBuilder(GruConfig config)
    {
        Config = JsonNode.Parse(GruConfigJson.Write(config))!.AsObject();
        int seed = 0;
        foreach (var (name, shape) in ModelFile.ExpectedShapes(config))
        {
            float[] values = PatternValues(checked((int)shape.Aggregate(1L, (a, b) => a * b)), ++seed);
            Tensors.Add(new TensorSpec(name, "F32", shape, F32Bytes(values)));
        }
    }

    /// <summary>The config object, serialised into <c>__metadata__.config</c> unless <see cref="ConfigText"/> is set.</summary>
    public JsonObject Config { get; }

    /// <summary>The config string written verbatim instead of <see cref="Config"/>.</summary>
    public string? ConfigText { get; set; }

    /// <summary>String entries of <c>__metadata__</c> besides <c>config</c>.</summary>
    public Dictionary<string, string> OtherMetadata { get; } = new(StringComparer.Ordinal);

    /// <summary>Tensors in the order they are described in the header and laid out in the data section.</summary>
    public List<TensorSpec> Tensors { get; } = [];

    /// <summary>Runs on the header JSON after it is built from the tensors and metadata.</summary>
    public Action<JsonObject>? EditHeader { get; set; }

    /// <summary>Runs on the header text after <see cref="EditHeader"/>: for JSON a <see cref="JsonObject"/> cannot hold.</summary>
    public Func<string, string>? EditHeaderText { get; set; }

    /// <summary>Spaces appended to the header text, as the Python safetensors writer pads to a multiple of 8.</summary>
    public int HeaderPadding { get; set; }

    /// <summary>The header length written in the first 8 bytes instead of the true one.</summary>
    public ulong? HeaderLength { get; set; }

    /// <summary>Bytes appended after the last tensor's data.</summary>
    public byte[] TrailingBytes { get; set; } = [];

    /// <summary>A 1-layer unidirectional forecast model: input 2, hidden 3, horizon 2, output 1.</summary>
    public static ModelFileBuilder Forecast(int inputSize = 2, int hiddenSize = 3, int numLayers = 1, bool bidirectional = false, int horizon = 2, int outputSize = 1) =>
        new(new GruConfig
        {
            Task = GruTask.Forecast,
            InputSize = inputSize,
            HiddenSize = hiddenSize,
            NumLayers = numLayers,
            Bidirectional = bidirectional,
            Horizon = horizon,
            OutputSize = outputSize,
        });

    /// <summary>A 1-layer unidirectional classifier with classes a, b, c.</summary>
    public static ModelFileBuilder Classify(int inputSize = 2, int hiddenSize = 3, int numLayers = 1, bool bidirectional = false) =>
        new(new GruConfig
        {
            Task = GruTask.Classify,
            InputSize = inputSize,
            HiddenSize = hiddenSize,
            NumLayers = numLayers,
            Bidirectional = bidirectional,
            Classes = ["a", "b", "c"],
        });

    public TensorSpec Tensor(string name) => Tensors.Single(t => t.Name == name);

    /// <summary>The header JSON object exactly as <see cref="Build"/> writes it before <see cref="EditHeaderText"/>.</summary>
    public JsonObject BuildHeader()
    {
        var metadata = new JsonObject { [ModelFile.ConfigKey] = ConfigText ?? Config.ToJsonString() };
        foreach (var (key, value) in OtherMetadata) metadata[key] = value;
        var header = new JsonObject { ["__metadata__"] = metadata };
        long offset = 0;
        foreach (TensorSpec tensor in Tensors)
        {
            header[tensor.Name] = new JsonObject
            {
                ["dtype"] = tensor.DType,
                ["shape"] = new JsonArray([.. tensor.Shape.Select(d => (JsonNode?)d)]),
                ["data_offsets"] = new JsonArray(offset, offset + tensor.Data.Length),
            };
            offset += tensor.Data.Length;
        }
        EditHeader?.Invoke(header);
        return header;
    }

    public byte[] Build()
    {
        string text = BuildHeader().ToJsonString();
        if (EditHeaderText is not null) text = EditHeaderText(text);
        return Assemble(Encoding.UTF8.GetBytes(text + new string(' ', HeaderPadding)));
    }

    /// <summary>A file whose header is exactly <paramref name="header"/> (for bytes that are not valid UTF-8) and whose data is the tensors'.</summary>
    public byte[] BuildWithHeaderBytes(byte[] header) => Assemble(header);

    private byte[] Assemble(byte[] header)
    {
        var file = new List<byte>(8 + header.Length);
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, HeaderLength ?? (ulong)header.Length);
        file.AddRange(length);
        file.AddRange(header);
        foreach (TensorSpec tensor in Tensors) file.AddRange(tensor.Data);
        file.AddRange(TrailingBytes);
        return [.. file];
    }

    /// <summary>Distinct, finite, exactly representable values, so a load that swaps or shifts tensors shows.</summary>
    public static float[] PatternValues(int count, int seed) =>
        [.. Enumerable.Range(0, count).Select(i => (((i * 7 + seed * 13) % 29) - 14) / 16f)];

    public static byte[] F32Bytes(params float[] values)
    {
        var bytes = new byte[values.Length * 4];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteSingleLittleEndian(bytes.AsSpan(i * 4), values[i]);
        return bytes;
    }

    public static byte[] F16Bytes(params float[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteHalfLittleEndian(bytes.AsSpan(i * 2), (Half)values[i]);
        return bytes;
    }

    /// <summary>BF16 by truncation: the upper 16 bits of each float32.</summary>
    public static byte[] BF16Bytes(params float[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++)
            BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), (ushort)(BitConverter.SingleToUInt32Bits(values[i]) >> 16));
        return bytes;
    }

    /// <summary>Raw 16-bit patterns, for NaN, infinity and other encodings a float cannot be cast to exactly.</summary>
    public static byte[] UInt16Bytes(params ushort[] values)
    {
        var bytes = new byte[values.Length * 2];
        for (int i = 0; i < values.Length; i++) BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(i * 2), values[i]);
        return bytes;
    }
}
