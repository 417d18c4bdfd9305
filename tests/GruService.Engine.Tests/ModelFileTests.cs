using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using GruService.Engine.ModelFiles;

namespace GruService.Engine.Tests;

public class ModelFileTests
{
    // The default forecast builder: input 2, hidden 3, 1 layer, horizon 2 × output 1. Sizes in bytes of its F32 tensors.
    private const int WeightIhBytes = 9 * 2 * 4, WeightHhBytes = 9 * 3 * 4, BiasBytes = 9 * 4, HeadWeightBytes = 2 * 3 * 4, HeadBiasBytes = 2 * 4;
    private const int DataBytes = WeightIhBytes + WeightHhBytes + 2 * BiasBytes + HeadWeightBytes + HeadBiasBytes;
    private const long HeadBiasBegin = DataBytes - HeadBiasBytes;
    private const long HeadWeightBegin = HeadBiasBegin - HeadWeightBytes;

    private static ModelFileException AssertRejected(byte[] file, params string[] messageParts) =>
        AssertRejected(file, new ModelLimits(), messageParts);

    private static ModelFileException AssertRejected(byte[] file, ModelLimits limits, params string[] messageParts)
    {
        var error = Assert.Throws<ModelFileException>(() => ModelFile.Read(file, limits));
        foreach (string part in messageParts)
            Assert.Contains(part, error.Message);
        return error;
    }

    private static JsonNode? Raw(string json) => JsonNode.Parse(json);

    private static GruModel Load(byte[] file) => ModelFile.Read(file, new ModelLimits());

    /// <summary>Replaces the ASCII text <paramref name="placeholder"/> in a header with arbitrary bytes.</summary>
    private static byte[] ReplaceBytes(byte[] header, string placeholder, params byte[] replacement)
    {
        byte[] needle = Encoding.ASCII.GetBytes(placeholder);
        int at = header.AsSpan().IndexOf(needle);
        Assert.True(at >= 0, $"'{placeholder}' is not in the header.");
        return [.. header.AsSpan(0, at), .. replacement, .. header.AsSpan(at + needle.Length)];
    }

    /// <summary>Inserts <paramref name="member"/> (",\"key\":value") just before the header's closing brace.</summary>
    private static Func<string, string> AppendMember(string member) => text => text.Insert(text.LastIndexOf('}'), member);

    // ---------------------------------------------------------------- the builder itself

    [Fact]
    public void Builder_DefaultFiles_Load()
    {
        GruModel forecast = Load(ModelFileBuilder.Forecast().Build());
        GruModel classify = Load(ModelFileBuilder.Classify(bidirectional: true, numLayers: 2).Build());

        Assert.Equal(GruTask.Forecast, forecast.Config.Task);
        Assert.Equal(2, forecast.OutputsPerSequence);
        Assert.Equal(GruTask.Classify, classify.Config.Task);
        Assert.Equal(["a", "b", "c"], classify.Config.Classes);
        Assert.Equal(4, classify.Directions.Count);
    }

    // ---------------------------------------------------------------- container: length field and header

    [Fact]
    public void Read_Rejects_FileAboveMaxFileBytes()
    {
        byte[] file = ModelFileBuilder.Forecast().Build();
        AssertRejected(file, new ModelLimits { MaxFileBytes = file.Length - 1 }, $"{file.Length} bytes", $"limit is {file.Length - 1}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(7)]
    public void Read_Rejects_FileShorterThanHeaderLengthField(int length)
    {
        AssertRejected(new byte[length], $"{length} bytes", "too short");
    }

    [Theory]
    [InlineData(100_000UL)]
    [InlineData(1UL << 31)]
    [InlineData(1UL << 32)]
    [InlineData(1UL << 63)]
    [InlineData(ulong.MaxValue)]
    [InlineData(ulong.MaxValue - 7)]
    public void Read_Rejects_HeaderLengthPastEndOfFile(ulong headerLength)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.HeaderLength = headerLength;
        AssertRejected(builder.Build(), $"header length {headerLength}", "past the end");
    }

    [Fact]
    public void Read_SaysATorchSaveZipIsAPickledCheckpoint_AndHowToSaveSafetensors()
    {
        // torch.save's default format: a zip whose first entry is archive/data.pkl.
        byte[] file = [.. "PK\u0003\u0004\0\0\b\0\0\0\0\0\0\0\0\0"u8, .. Encoding.ASCII.GetBytes("archive/data.pkl"), .. new byte[64]];
        ModelFileException error = AssertRejected(file, "is a zip archive (it starts with PK\\x03\\x04), as torch.save writes: a pickled PyTorch checkpoint, not a safetensors file.",
            "safetensors.torch.save_file(model.state_dict(), \"model.safetensors\", metadata={\"config\": json.dumps(config)})");
        Assert.DoesNotContain("header length", error.Message);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(4)]
    public void Read_SaysAPickleIsAPickledCheckpoint(byte protocol)
    {
        // pickle.dump and the legacy torch.save: the PROTO opcode 0x80, its protocol, then (for torch) the magic number as a LONG1.
        byte[] file = [0x80, protocol, 0x8A, 0x0A, 0x6C, 0xFC, 0x9C, 0x46, 0xF9, 0x20, 0x6A, 0xA8, 0x50, 0x19, .. new byte[64]];
        AssertRejected(file, "is a Python pickle", "a pickled PyTorch checkpoint, not a safetensors file", "safetensors.torch.save_file(model.state_dict()");
    }

    [Fact]
    public void Read_LoadsAFileWhoseHeaderLengthStartsLikeAPickle()
    {
        // A header of 0x280, 0x380, ... bytes starts the file with 0x80 0x02, 0x80 0x03, ..., as a pickle does: it must still load.
        var builder = ModelFileBuilder.Forecast();
        int unpadded = (int)BinaryPrimitives.ReadUInt64LittleEndian(builder.Build());
        int target = new[] { 0x280, 0x380, 0x480, 0x580 }.First(length => length >= unpadded);
        builder.HeaderPadding = target - unpadded;
        byte[] file = builder.Build();
        Assert.Equal([0x80, (byte)(target >> 8)], file[..2]);
        Assert.Equal(2, Load(file).OutputsPerSequence);
    }

    [Fact]
    public void Read_Rejects_HeaderLengthOneByteBeyondFile()
    {
        var builder = ModelFileBuilder.Forecast();
        int fileLength = builder.Build().Length;
        builder.HeaderLength = (ulong)(fileLength - 8 + 1);
        AssertRejected(builder.Build(), $"header length {fileLength - 7}", $"{fileLength}-byte file");
    }

    [Fact]
    public void Read_Rejects_HeaderAboveMaxHeaderBytes()
    {
        byte[] file = ModelFileBuilder.Forecast().Build();
        ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(file);
        AssertRejected(file, new ModelLimits { MaxHeaderBytes = (int)headerLength - 1 }, $"header is {headerLength} bytes", $"limit is {headerLength - 1}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void Read_Rejects_HeaderLengthTooShortForJsonObject(int headerLength)
    {
        byte[] file = [.. BitConverter.GetBytes((ulong)headerLength), .. "{}"u8];
        AssertRejected(file, $"header length {headerLength}", "too short for a JSON object");
    }

    [Theory]
    [InlineData("not json")]
    [InlineData("{\"a\": 1")]
    [InlineData("{\"a\": 1,}")]
    [InlineData("{} {}")]
    [InlineData("{/* comment */}")]
    [InlineData("{'a': 1}")]
    [InlineData("{}\0\0\0\0")]
    public void Read_Rejects_HeaderThatIsNotJson(string header)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeaderText = _ => header;
        AssertRejected(builder.Build(), "header is not valid JSON");
    }

    [Theory]
    [InlineData(17)]
    [InlineData(100_000)]
    public void Read_Rejects_HeaderNestedTooDeeply(int depth)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeaderText = AppendMember($",\"deep\":{new string('[', depth)}{new string(']', depth)}");
        AssertRejected(builder.Build(), "header is not valid JSON", "depth");
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("[{\"head.bias\": {}}]")]
    [InlineData("\"text\"")]
    [InlineData("42")]
    [InlineData("null")]
    public void Read_Rejects_HeaderThatIsNotAnObject(string header)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeaderText = _ => header;
        AssertRejected(builder.Build(), "header is not a JSON object");
    }

    [Fact]
    public void Read_Rejects_HeaderStringThatIsNotUtf8()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.OtherMetadata["note"] = "PLACEHOLDER";
        byte[] header = Encoding.UTF8.GetBytes(builder.BuildHeader().ToJsonString());
        // 0xC3 starts a two-byte sequence; '(' is not a continuation byte.
        byte[] file = builder.BuildWithHeaderBytes(ReplaceBytes(header, "PLACEHOLDER", 0xC3, (byte)'('));
        AssertRejected(file, "header.__metadata__.note", "not valid UTF-8/UTF-16");
    }

    [Fact]
    public void Read_Rejects_HeaderKeyThatIsNotUtf8()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Tensor("head.bias").Name = "PLACEHOLDER";
        byte[] header = Encoding.UTF8.GetBytes(builder.BuildHeader().ToJsonString());
        byte[] file = builder.BuildWithHeaderBytes(ReplaceBytes(header, "PLACEHOLDER", 0xFF));
        AssertRejected(file, "Key 6 of header", "not valid UTF-8/UTF-16");
    }

    [Fact]
    public void Read_Rejects_HeaderStringWithLoneSurrogateEscape()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.OtherMetadata["note"] = "PLACEHOLDER";
        builder.EditHeaderText = text => text.Replace("\"PLACEHOLDER\"", "\"\\ud800\"");
        AssertRejected(builder.Build(), "header.__metadata__.note", "not valid UTF-8/UTF-16");
    }

    [Fact]
    public void Read_Rejects_HeaderKeyWithLoneSurrogateEscape()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.OtherMetadata["PLACEHOLDER"] = "value";
        builder.EditHeaderText = text => text.Replace("\"PLACEHOLDER\"", "\"\\udc00\"");
        AssertRejected(builder.Build(), "Key 1 of header.__metadata__", "not valid UTF-8/UTF-16");
    }

    [Fact]
    public void Read_Rejects_DuplicateTensorNames()
    {
        var builder = ModelFileBuilder.Forecast();
        string entry = builder.BuildHeader()["head.bias"]!.ToJsonString();
        builder.EditHeaderText = AppendMember($",\"head.bias\":{entry}");
        AssertRejected(builder.Build(), "Tensor 'head.bias' appears twice");
    }

    [Fact]
    public void Read_Rejects_DuplicateMetadataObject()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeaderText = AppendMember(",\"__metadata__\":{\"config\":\"{}\"}");
        AssertRejected(builder.Build(), "__metadata__ appears twice");
    }

    [Fact]
    public void Read_Rejects_DuplicateMetadataKey()
    {
        var builder = ModelFileBuilder.Forecast();
        // A second config that would silently win if the last duplicate were taken.
        builder.EditHeaderText = text => text.Replace("\"__metadata__\":{", "\"__metadata__\":{\"config\":\"{}\",");
        AssertRejected(builder.Build(), "__metadata__ key 'config' appears twice");
    }

    [Theory]
    [InlineData("dtype", "\"I64\"")]
    [InlineData("shape", "[1]")]
    [InlineData("data_offsets", "[0, 8]")]
    public void Read_Rejects_TensorEntryWithDuplicateKey(string key, string value)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeaderText = text => text.Replace("\"head.bias\":{", $"\"head.bias\":{{\"{key}\":{value},");
        AssertRejected(builder.Build(), $"Tensor 'head.bias' has key '{key}' twice");
    }

    // ---------------------------------------------------------------- container: __metadata__

    [Theory]
    [InlineData("[]")]
    [InlineData("\"config\"")]
    [InlineData("null")]
    [InlineData("1")]
    public void Read_Rejects_MetadataThatIsNotAnObject(string metadata)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeader = header => header["__metadata__"] = Raw(metadata);
        AssertRejected(builder.Build(), "__metadata__ is not a JSON object");
    }

    [Theory]
    [InlineData("12")]
    [InlineData("true")]
    [InlineData("null")]
    [InlineData("{\"lr\": 0.1}")]
    [InlineData("[\"x\"]")]
    public void Read_Rejects_MetadataWithNonStringValue(string value)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeader = header => header["__metadata__"]!["epochs"] = Raw(value);
        AssertRejected(builder.Build(), "__metadata__ key 'epochs' is not a string");
    }

    [Fact]
    public void Read_Rejects_ConfigObjectInsteadOfConfigString()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeader = header => header["__metadata__"]!["config"] = builder.Config.DeepClone();
        AssertRejected(builder.Build(), "__metadata__ key 'config' is not a string");
    }

    // ---------------------------------------------------------------- container: tensor entries

    [Theory]
    [InlineData("[]")]
    [InlineData("\"F32\"")]
    [InlineData("null")]
    public void Read_Rejects_TensorEntryThatIsNotAnObject(string entry)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeader = header => header["head.bias"] = Raw(entry);
        AssertRejected(builder.Build(), "Tensor 'head.bias' is not described by a JSON object");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("32")]
    [InlineData("null")]
    [InlineData("[\"F32\"]")]
    public void Read_Rejects_TensorWithoutDtypeString(string? dtype)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeader = header =>
        {
            var entry = header["head.bias"]!.AsObject();
            if (dtype is null) entry.Remove("dtype");
            else entry["dtype"] = Raw(dtype);
        };
        AssertRejected(builder.Build(), "Tensor 'head.bias' has no dtype string");
    }

    [Theory]
    [InlineData("I64")]
    [InlineData("F64")]
    [InlineData("I32")]
    [InlineData("U8")]
    [InlineData("BOOL")]
    [InlineData("F8_E4M3")]
    [InlineData("f32")]
    [InlineData("")]
    public void Read_Rejects_UnknownDtype(string dtype)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Tensor("gru.bias_hh_l0").DType = dtype;
        AssertRejected(builder.Build(), "Tensor 'gru.bias_hh_l0'", $"dtype {dtype};", "only F32, F16 and BF16");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("2")]
    [InlineData("\"[2]\"")]
    [InlineData("{}")]
    [InlineData("null")]
    public void Read_Rejects_TensorWithoutShapeArray(string? shape)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeader = header =>
        {
            var entry = header["head.bias"]!.AsObject();
            if (shape is null) entry.Remove("shape");
            else entry["shape"] = Raw(shape);
        };
        AssertRejected(builder.Build(), "Tensor 'head.bias' has no shape array");
    }

    [Fact]
    public void Read_Rejects_ShapeWithMoreThanEightDimensions()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Tensor("head.bias").Shape = [2, 1, 1, 1, 1, 1, 1, 1, 1];
        AssertRejected(builder.Build(), "Tensor 'head.bias' has 9 dimensions");
    }

    [Theory]
    [InlineData("[-2]")]
    [InlineData("[-1, -2]")]
    [InlineData("[-9223372036854775808]")]
    public void Read_Rejects_NegativeShapeDimension(string shape)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeader = header => header["head.bias"]!["shape"] = Raw(shape);
        AssertRejected(builder.Build(), "Tensor 'head.bias'", "shape entry that is not a non-negative integer");
    }

    [Theory]
    [InlineData("[2.0]")]
    [InlineData("[1.5]")]
    [InlineData("[2e0]")]
    [InlineData("[\"2\"]")]
    [InlineData("[null]")]
    [InlineData("[true]")]
    [InlineData("[[2]]")]
    [InlineData("[18446744073709551616]")]
    [InlineData("[1e300]")]
    public void Read_Rejects_ShapeEntryThatIsNotAnInteger(string shape)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeader = header => header["head.bias"]!["shape"] = Raw(shape);
        AssertRejected(builder.Build(), "Tensor 'head.bias'", "shape entry that is not a non-negative integer");
    }

    [Theory]
    // 2^62 × 4 = 2^64 wraps to 0 in unchecked arithmetic, which would match an empty data_offsets span.
    [InlineData("[4611686018427387904, 4]")]
    [InlineData("[9223372036854775807, 9223372036854775807]")]
    [InlineData("[4294967296, 4294967296, 4294967296]")]
    [InlineData("[3037000500, 3037000500]")]
    [InlineData("[100000]")]
    public void Read_Rejects_ShapeWithMoreElementsThanTheData(string shape)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeader = header =>
        {
            header["head.bias"]!["shape"] = Raw(shape);
            header["head.bias"]!["data_offsets"] = new JsonArray(HeadBiasBegin, HeadBiasBegin);
        };
        AssertRejected(builder.Build(), "Tensor 'head.bias' has shape [", $"more elements than the {DataBytes}-byte data section");
    }

    [Theory]
    [InlineData(null)]
    [InlineData("[]")]
    [InlineData("[0]")]
    [InlineData("[0, 8, 16]")]
    [InlineData("\"0-8\"")]
    [InlineData("{\"begin\": 0, \"end\": 8}")]
    [InlineData("null")]
    public void Read_Rejects_TensorWithoutDataOffsetsPair(string? offsets)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeader = header =>
        {
            var entry = header["head.bias"]!.AsObject();
            if (offsets is null) entry.Remove("data_offsets");
            else entry["data_offsets"] = Raw(offsets);
        };
        AssertRejected(builder.Build(), "Tensor 'head.bias' has no data_offsets pair");
    }

    [Theory]
    [InlineData("[-8, 0]")]
    [InlineData("[284, 276]")]
    [InlineData("[276.0, 284.0]")]
    [InlineData("[276, 2.84e2]")]
    [InlineData("[\"276\", \"284\"]")]
    [InlineData("[276, \"284\"]")]
    [InlineData("[null, 284]")]
    [InlineData("[276, true]")]
    [InlineData("[[276], [284]]")]
    [InlineData("[276, 1e30]")]
    [InlineData("[276, 18446744073709551616]")]
    [InlineData("[-9223372036854775808, 284]")]
    public void Read_Rejects_DataOffsetsThatAreNotANonNegativeOrderedPair(string offsets)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeader = header => header["head.bias"]!["data_offsets"] = Raw(offsets);
        AssertRejected(builder.Build(), "Tensor 'head.bias' has data_offsets that are not a non-negative, ordered pair");
    }

    [Theory]
    [InlineData(HeadBiasBegin, DataBytes + 1L)]
    [InlineData(HeadBiasBegin + 8, DataBytes + 8L)]
    [InlineData(0L, long.MaxValue)]
    public void Read_Rejects_DataOffsetsPastEndOfData(long begin, long end)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeader = header => header["head.bias"]!["data_offsets"] = new JsonArray(begin, end);
        AssertRejected(builder.Build(), $"Tensor 'head.bias' has data_offsets [{begin}, {end}] past the end of the {DataBytes}-byte data section");
    }

    [Fact]
    public void Read_Rejects_DataOffsetsThatDisagreeWithShape()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Tensor("head.bias").Shape = [1];
        AssertRejected(builder.Build(), "Tensor 'head.bias' has shape [1] of F32 (4 bytes) but data_offsets span 8 bytes");
    }

    [Fact]
    public void Read_Rejects_HalfPrecisionTensorWithOddByteSpan()
    {
        var builder = ModelFileBuilder.Forecast();
        TensorSpec bias = builder.Tensor("head.bias");
        bias.DType = "F16";
        bias.Data = [0, 0x38, 0];
        AssertRejected(builder.Build(), "Tensor 'head.bias' has shape [2] of F16 (4 bytes) but data_offsets span 3 bytes");
    }

    [Fact]
    public void Read_Rejects_OverlappingTensors()
    {
        var builder = ModelFileBuilder.Forecast();
        // head.bias starts 4 bytes inside head.weight and leaves its own last 4 bytes unclaimed.
        builder.EditHeader = header => header["head.bias"]!["data_offsets"] = new JsonArray(HeadBiasBegin - 4, HeadBiasBegin + 4);
        AssertRejected(builder.Build(), $"Tensor 'head.bias' overlaps another tensor's data at byte {HeadBiasBegin - 4}");
    }

    [Fact]
    public void Read_Rejects_TwoTensorsSharingTheSameBytes()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Tensor("head.bias").Shape = [2, 3];
        builder.Tensor("head.bias").Data = [];
        builder.EditHeader = header => header["head.bias"]!["data_offsets"] = new JsonArray(HeadWeightBegin, HeadBiasBegin);
        AssertRejected(builder.Build(), "overlaps another tensor's data", $"at byte {HeadWeightBegin}");
    }

    [Fact]
    public void Read_Rejects_HoleBetweenTensors()
    {
        var builder = ModelFileBuilder.Forecast();
        // 4 unclaimed bytes between head.weight and head.bias.
        builder.Tensor("head.bias").Data = [0, 0, 0, 0, .. builder.Tensor("head.bias").Data];
        builder.EditHeader = header => header["head.bias"]!["data_offsets"] = new JsonArray(HeadBiasBegin + 4, DataBytes + 4);
        AssertRejected(builder.Build(), $"Bytes {HeadBiasBegin} to {HeadBiasBegin + 4} of the data section belong to no tensor");
    }

    [Fact]
    public void Read_Rejects_HoleBeforeFirstTensor()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Tensors.Insert(0, new TensorSpec("padding", "F32", [1], [0, 0, 0, 0]));
        builder.EditHeader = header => header.Remove("padding");
        AssertRejected(builder.Build(), "Bytes 0 to 4 of the data section belong to no tensor");
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    [InlineData(1000)]
    public void Read_Rejects_TrailingBytesAfterLastTensor(int trailing)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.TrailingBytes = new byte[trailing];
        AssertRejected(builder.Build(), $"Bytes {DataBytes} to {DataBytes + trailing} of the data section belong to no tensor");
    }

    // ---------------------------------------------------------------- model: config presence, tensors and values

    [Fact]
    public void Read_Rejects_MetadataWithoutConfig()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.OtherMetadata["format"] = "pt";
        builder.EditHeader = header => header["__metadata__"]!.AsObject().Remove("config");
        AssertRejected(builder.Build(), "__metadata__ has no 'config' key");
    }

    [Fact]
    public void Read_Rejects_HeaderWithoutMetadata()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.EditHeader = header => header.Remove("__metadata__");
        AssertRejected(builder.Build(), "__metadata__ has no 'config' key");
    }

    [Fact]
    public void Read_Rejects_ParametersAboveMaxParameters()
    {
        // 9×2 + 9×3 + 9 + 9 + 2×3 + 2 parameters.
        const long parameters = 18 + 27 + 9 + 9 + 6 + 2;
        byte[] file = ModelFileBuilder.Forecast().Build();
        AssertRejected(file, new ModelLimits { MaxParameters = parameters - 1 }, $"{parameters} parameters", $"limit is {parameters - 1}");
        Assert.Equal(parameters, ModelFile.Read(file, new ModelLimits { MaxParameters = parameters }).ParameterCount);
    }

    [Theory]
    [InlineData("gru.weight_ih_l1", 9, 3)]
    [InlineData("gru.bias_hh_l1", 9, 0)]
    [InlineData("gru.weight_hh_l0_reverse", 9, 3)]
    [InlineData("gru.bias_ih_l0_reverse", 9, 0)]
    [InlineData("head.weight_extra", 1, 0)]
    [InlineData("encoder.weight", 4, 2)]
    [InlineData("gru.weight_ih_l0 ", 9, 2)]
    public void Read_Rejects_UnexpectedTensor(string name, long rows, long columns)
    {
        var builder = ModelFileBuilder.Forecast();
        long[] shape = columns == 0 ? [rows] : [rows, columns];
        builder.Tensors.Add(new TensorSpec(name, "F32", shape, ModelFileBuilder.F32Bytes(ModelFileBuilder.PatternValues((int)(rows * Math.Max(columns, 1)), 99))));
        AssertRejected(builder.Build(), $"Unexpected tensor '{name}'", "1-layer forecast model");
    }

    [Theory]
    [InlineData("module.", "(nn.DataParallel and DistributedDataParallel add it)")]
    [InlineData("_orig_mod.", "(torch.compile adds it)")]
    [InlineData("model.", "")]
    public void Read_Rejects_PrefixedTensorNames_SuggestingToStripThePrefix(string prefix, string cause)
    {
        var builder = ModelFileBuilder.Forecast();
        foreach (TensorSpec tensor in builder.Tensors) tensor.Name = prefix + tensor.Name;
        AssertRejected(builder.Build(), $"Unexpected tensor '{prefix}gru.weight_ih_l0' for a 1-layer forecast model.",
            "Tensor names must start with 'gru.' (the nn.GRU) and 'head.' (the nn.Linear)",
            $"Every name here has the prefix '{prefix}' before such a name{(cause.Length == 0 ? "" : " " + cause)}: strip it when saving, "
            + $"e.g. save_file({{k.removeprefix('{prefix}'): v for k, v in model.state_dict().items()}}, ...).");
    }

    [Fact]
    public void Read_Rejects_OtherAttributeNames_NamingThePrefixesFound()
    {
        var builder = ModelFileBuilder.Forecast();
        foreach (TensorSpec tensor in builder.Tensors) tensor.Name = tensor.Name.Replace("gru.", "rnn.").Replace("head.", "fc.");
        ModelFileException error = AssertRejected(builder.Build(), "Unexpected tensor 'rnn.weight_ih_l0' for a 1-layer forecast model.",
            "Tensor names must start with 'gru.' (the nn.GRU) and 'head.' (the nn.Linear)",
            "Here the GRU's tensors start with 'rnn.' and the others with 'fc.': name the module's attributes gru and head, or rename the keys when saving.");
        Assert.DoesNotContain("prefix", error.Message);
    }

    [Fact]
    public void Read_Rejects_GruWithoutBiases_SayingToSaveZeroBiases()
    {
        // What nn.GRU(bias=False) saves: the weights only.
        var builder = ModelFileBuilder.Forecast();
        builder.Tensors.RemoveAll(t => t.Name.StartsWith("gru.bias_", StringComparison.Ordinal));
        AssertRejected(builder.Build(), "Tensor 'gru.bias_ih_l0' [9] is missing. GruService needs the GRU's biases: nn.GRU has them by default (bias=True); "
            + "for a model built with bias=False, save zero biases, e.g. state_dict['gru.bias_ih_l0'] = torch.zeros(9) for each layer and direction.");
    }

    [Fact]
    public void Read_Rejects_HeadWithoutBias_SayingToSaveZeros()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Tensors.RemoveAll(t => t.Name == "head.bias");
        AssertRejected(builder.Build(), "Tensor 'head.bias' [2] is missing. GruService needs the head's bias", "state_dict['head.bias'] = torch.zeros(2).");
    }

    [Fact]
    public void Read_Rejects_ForwardOnlyTensorsInBidirectionalModel()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config["bidirectional"] = true;
        AssertRejected(builder.Build(), "Tensor 'gru.weight_ih_l0_reverse' [9, 2] is missing");
    }

    public static TheoryData<string> EveryTensorOfATwoLayerBidirectionalClassifier()
    {
        var data = new TheoryData<string>();
        foreach (TensorSpec tensor in ModelFileBuilder.Classify(numLayers: 2, bidirectional: true).Tensors) data.Add(tensor.Name);
        return data;
    }

    [Theory]
    [MemberData(nameof(EveryTensorOfATwoLayerBidirectionalClassifier))]
    public void Read_Rejects_MissingTensor(string name)
    {
        var builder = ModelFileBuilder.Classify(numLayers: 2, bidirectional: true);
        long[] shape = builder.Tensor(name).Shape;
        builder.Tensors.RemoveAll(t => t.Name == name);
        AssertRejected(builder.Build(), $"Tensor '{name}' [{string.Join(", ", shape)}] is missing");
    }

    [Theory]
    [InlineData("gru.weight_ih_l0", new long[] { 2, 9 }, "[9, 2]")]
    [InlineData("gru.weight_ih_l0", new long[] { 18 }, "[9, 2]")]
    [InlineData("gru.weight_ih_l0", new long[] { 9, 2, 1 }, "[9, 2]")]
    [InlineData("gru.bias_hh_l0", new long[] { 9, 1 }, "[9]")]
    [InlineData("gru.bias_hh_l0", new long[] { 3, 3 }, "[9]")]
    [InlineData("head.weight", new long[] { 3, 2 }, "[2, 3]")]
    [InlineData("head.bias", new long[] { 1, 2 }, "[2]")]
    public void Read_Rejects_TensorWithWrongShape(string name, long[] shape, string expected)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Tensor(name).Shape = shape;
        AssertRejected(builder.Build(), $"Tensor '{name}' has shape [{string.Join(", ", shape)}]; expected {expected}");
    }

    [Fact]
    public void Read_Rejects_LayerOneInputWidthThatIgnoresBidirectionalConcatenation()
    {
        var builder = ModelFileBuilder.Forecast(numLayers: 2, bidirectional: true);
        // Layer 1 reads both directions of layer 0: [3H, 2H], not [3H, H].
        builder.Tensor("gru.weight_ih_l1").Shape = [9, 3];
        builder.Tensor("gru.weight_ih_l1").Data = ModelFileBuilder.F32Bytes(ModelFileBuilder.PatternValues(27, 1));
        AssertRejected(builder.Build(), "Tensor 'gru.weight_ih_l1' has shape [9, 3]; expected [9, 6]");
    }

    [Theory]
    [InlineData(float.NaN)]
    [InlineData(float.PositiveInfinity)]
    [InlineData(float.NegativeInfinity)]
    public void Read_Rejects_NonFiniteWeight(float bad)
    {
        var builder = ModelFileBuilder.Forecast();
        float[] values = ModelFileBuilder.PatternValues(27, 1);
        values[5] = bad;
        builder.Tensor("gru.weight_hh_l0").Data = ModelFileBuilder.F32Bytes(values);
        AssertRejected(builder.Build(), "Tensor 'gru.weight_hh_l0' holds a non-finite value", "flat index 5");
    }

    [Theory]
    [InlineData("F16", (ushort)0x7C00)]
    [InlineData("F16", (ushort)0xFC00)]
    [InlineData("F16", (ushort)0x7E00)]
    [InlineData("BF16", (ushort)0x7F80)]
    [InlineData("BF16", (ushort)0xFF80)]
    [InlineData("BF16", (ushort)0x7FC0)]
    [InlineData("BF16", (ushort)0x7F81)]
    public void Read_Rejects_NonFiniteHalfPrecisionWeight(string dtype, ushort bits)
    {
        var builder = ModelFileBuilder.Forecast();
        TensorSpec bias = builder.Tensor("head.bias");
        bias.DType = dtype;
        bias.Data = ModelFileBuilder.UInt16Bytes(0x3C00, bits);
        AssertRejected(builder.Build(), "Tensor 'head.bias' holds a non-finite value", "flat index 1");
    }

    // ---------------------------------------------------------------- config: JSON, format and task

    [Theory]
    [InlineData("")]
    [InlineData("{")]
    [InlineData("not json")]
    [InlineData("{\"format\": }")]
    [InlineData("{\"format\": \"gru-service/v1\"} trailing")]
    public void Read_Rejects_ConfigThatIsNotJson(string config)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.ConfigText = config;
        AssertRejected(builder.Build(), "config is not valid JSON");
    }

    [Fact]
    public void Read_Rejects_ConfigNestedTooDeeply()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.ConfigText = builder.Config.ToJsonString().Insert(1, $"\"deep\":{new string('[', 40)}{new string(']', 40)},");
        AssertRejected(builder.Build(), "config is not valid JSON", "depth");
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("\"gru-service/v1\"")]
    [InlineData("1")]
    [InlineData("null")]
    public void Read_Rejects_ConfigThatIsNotAnObject(string config)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.ConfigText = config;
        AssertRejected(builder.Build(), "config is not a JSON object");
    }

    [Theory]
    [InlineData("hidden_size", "3")]
    [InlineData("task", "\"classify\"")]
    [InlineData("format", "\"gru-service/v1\"")]
    public void Read_Rejects_ConfigWithDuplicateKey(string key, string value)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.ConfigText = builder.Config.ToJsonString().Insert(1, $"\"{key}\":{value},");
        AssertRejected(builder.Build(), $"config.{key} appears twice");
    }

    [Fact]
    public void Read_Rejects_ConfigStringWithLoneSurrogateEscape()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.ConfigText = builder.Config.ToJsonString().Insert(1, "\"description\":\"\\ud800\",");
        AssertRejected(builder.Build(), "config.description", "not valid UTF-8/UTF-16");
    }

    [Fact]
    public void Read_Rejects_ConfigKeyWithLoneSurrogateEscape()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.ConfigText = builder.Config.ToJsonString().Insert(1, "\"\\udfff\":1,");
        AssertRejected(builder.Build(), "Key 0 of config", "not valid UTF-8/UTF-16");
    }

    [Fact]
    public void Read_Rejects_ConfigWithoutFormat()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config.Remove("format");
        AssertRejected(builder.Build(), "config.format is missing");
    }

    [Theory]
    [InlineData("1")]
    [InlineData("null")]
    [InlineData("[\"gru-service/v1\"]")]
    public void Read_Rejects_FormatThatIsNotAString(string format)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config["format"] = Raw(format);
        AssertRejected(builder.Build(), "config.format is not a string");
    }

    [Theory]
    [InlineData("gru-service/v2")]
    [InlineData("GRU-SERVICE/V1")]
    [InlineData("gru-service/v1 ")]
    [InlineData("")]
    public void Read_Rejects_WrongFormatString(string format)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config["format"] = format;
        AssertRejected(builder.Build(), $"config.format is '{format}'", "expected 'gru-service/v1'");
    }

    [Fact]
    public void Read_Rejects_ConfigWithoutTask()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config.Remove("task");
        AssertRejected(builder.Build(), "config.task is missing");
    }

    [Theory]
    [InlineData("0")]
    [InlineData("null")]
    [InlineData("true")]
    public void Read_Rejects_TaskThatIsNotAString(string task)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config["task"] = Raw(task);
        AssertRejected(builder.Build(), "config.task is not a string");
    }

    [Theory]
    [InlineData("regress")]
    [InlineData("Forecast")]
    [InlineData("classification")]
    [InlineData("")]
    public void Read_Rejects_UnknownTask(string task)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config["task"] = task;
        AssertRejected(builder.Build(), $"config.task is '{task}'", "expected 'forecast' or 'classify'");
    }

    // ---------------------------------------------------------------- config: integers and flags

    [Theory]
    [InlineData("input_size")]
    [InlineData("hidden_size")]
    [InlineData("num_layers")]
    [InlineData("horizon")]
    [InlineData("output_size")]
    public void Read_Rejects_ForecastConfigWithoutRequiredInteger(string key)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config.Remove(key);
        AssertRejected(builder.Build(), $"config.{key} is missing");
    }

    [Theory]
    [InlineData("input_size")]
    [InlineData("hidden_size")]
    [InlineData("num_layers")]
    public void Read_Rejects_ClassifyConfigWithoutRequiredInteger(string key)
    {
        var builder = ModelFileBuilder.Classify();
        builder.Config.Remove(key);
        AssertRejected(builder.Build(), $"config.{key} is missing");
    }

    [Theory]
    [InlineData("input_size", "\"2\"")]
    [InlineData("input_size", "2.0")]
    [InlineData("hidden_size", "2.5")]
    [InlineData("hidden_size", "3e0")]
    [InlineData("hidden_size", "null")]
    [InlineData("num_layers", "true")]
    [InlineData("num_layers", "[1]")]
    [InlineData("horizon", "99999999999999999999999")]
    [InlineData("horizon", "{}")]
    [InlineData("output_size", "\"one\"")]
    public void Read_Rejects_RequiredIntegerThatIsNotAnInteger(string key, string value)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config[key] = Raw(value);
        AssertRejected(builder.Build(), $"config.{key} is not an integer");
    }

    [Theory]
    [InlineData("input_size", 0)]
    [InlineData("hidden_size", 0)]
    [InlineData("num_layers", 0)]
    [InlineData("horizon", 0)]
    [InlineData("output_size", -1)]
    [InlineData("hidden_size", long.MinValue)]
    public void Read_Rejects_RequiredIntegerBelowOne(string key, long value)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config[key] = value;
        AssertRejected(builder.Build(), $"config.{key} is {value}; it must be between 1 and");
    }

    [Fact]
    public void Read_Rejects_InputSizeAboveLimit()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config["input_size"] = 65537;
        AssertRejected(builder.Build(), "config.input_size is 65537; it must be between 1 and 65536");
        AssertRejected(ModelFileBuilder.Forecast().Build(), new ModelLimits { MaxInputSize = 1 }, "config.input_size is 2; it must be between 1 and 1");
    }

    [Fact]
    public void Read_Rejects_HiddenSizeAboveLimit()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config["hidden_size"] = 4097;
        AssertRejected(builder.Build(), "config.hidden_size is 4097; it must be between 1 and 4096");
        AssertRejected(ModelFileBuilder.Forecast().Build(), new ModelLimits { MaxHiddenSize = 2 }, "config.hidden_size is 3; it must be between 1 and 2");
    }

    [Fact]
    public void Read_Rejects_HiddenSizeBeyondInt32()
    {
        // Fits a long, so it reaches the range check rather than the integer check; must not be truncated to an int first.
        var builder = ModelFileBuilder.Forecast();
        builder.Config["hidden_size"] = 4294967299L;
        AssertRejected(builder.Build(), "config.hidden_size is 4294967299; it must be between 1 and 4096");
    }

    [Fact]
    public void Read_Rejects_NumLayersAboveLimit()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config["num_layers"] = 9;
        AssertRejected(builder.Build(), "config.num_layers is 9; it must be between 1 and 8");
        AssertRejected(ModelFileBuilder.Forecast(numLayers: 2).Build(), new ModelLimits { MaxLayers = 1 }, "config.num_layers is 2; it must be between 1 and 1");
    }

    [Fact]
    public void Read_Rejects_HorizonAboveLimit()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config["horizon"] = 10001;
        AssertRejected(builder.Build(), "config.horizon is 10001; it must be between 1 and 10000");
        AssertRejected(ModelFileBuilder.Forecast().Build(), new ModelLimits { MaxHorizon = 1 }, "config.horizon is 2; it must be between 1 and 1");
    }

    [Fact]
    public void Read_Rejects_OutputSizeAboveLimit()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config["output_size"] = 65537;
        AssertRejected(builder.Build(), "config.output_size is 65537; it must be between 1 and 65536");
    }

    [Fact]
    public void Read_Rejects_HorizonTimesOutputSizeAboveLimit()
    {
        var builder = ModelFileBuilder.Forecast();
        // Each within its own limit; the head would have 10000 × 7 = 70000 outputs.
        builder.Config["horizon"] = 10000;
        builder.Config["output_size"] = 7;
        AssertRejected(builder.Build(), "config.horizon × config.output_size is 70000; the limit is 65536");
        AssertRejected(ModelFileBuilder.Forecast(horizon: 4, outputSize: 3).Build(), new ModelLimits { MaxOutputSize = 10 },
            "config.horizon × config.output_size is 12; the limit is 10");
    }

    [Theory]
    [InlineData("bidirectional", "\"true\"")]
    [InlineData("bidirectional", "1")]
    [InlineData("bidirectional", "null")]
    [InlineData("linear_before_reset", "0")]
    [InlineData("linear_before_reset", "\"false\"")]
    [InlineData("linear_before_reset", "[]")]
    public void Read_Rejects_FlagThatIsNotABoolean(string key, string value)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config[key] = Raw(value);
        AssertRejected(builder.Build(), $"config.{key} is not true or false");
    }

    // ---------------------------------------------------------------- config: classes

    [Fact]
    public void Read_Rejects_ClassifyWithoutClasses()
    {
        var builder = ModelFileBuilder.Classify();
        builder.Config.Remove("classes");
        AssertRejected(builder.Build(), "config.classes is missing");
    }

    [Theory]
    [InlineData("\"a,b,c\"")]
    [InlineData("{\"0\": \"a\"}")]
    [InlineData("3")]
    [InlineData("null")]
    public void Read_Rejects_ClassesThatAreNotAnArray(string classes)
    {
        var builder = ModelFileBuilder.Classify();
        builder.Config["classes"] = Raw(classes);
        AssertRejected(builder.Build(), "config.classes is not an array of strings");
    }

    [Theory]
    [InlineData("[]", "0 labels")]
    [InlineData("[\"only\"]", "1 label")]
    public void Read_Rejects_TooFewClasses(string classes, string count)
    {
        var builder = ModelFileBuilder.Classify();
        builder.Config["classes"] = Raw(classes);
        AssertRejected(builder.Build(), $"config.classes has {count}; it must have between 2 and 65536");
    }

    [Fact]
    public void Read_Rejects_MoreClassesThanLimit()
    {
        AssertRejected(ModelFileBuilder.Classify().Build(), new ModelLimits { MaxClasses = 2 }, "config.classes has 3 labels; it must have between 2 and 2");
    }

    [Theory]
    [InlineData("[\"a\", \"\", \"c\"]", 1)]
    [InlineData("[\"a\", \"b\", 3]", 2)]
    [InlineData("[null, \"b\", \"c\"]", 0)]
    [InlineData("[\"a\", [\"b\"], \"c\"]", 1)]
    public void Read_Rejects_ClassLabelThatIsNotANonEmptyString(string classes, int index)
    {
        var builder = ModelFileBuilder.Classify();
        builder.Config["classes"] = Raw(classes);
        AssertRejected(builder.Build(), $"config.classes[{index}] is not a non-empty string");
    }

    [Theory]
    [InlineData("[\"a\", \"b\", \"a\"]", "a")]
    [InlineData("[\"cat\", \"cat\", \"dog\"]", "cat")]
    public void Read_Rejects_DuplicateClassLabels(string classes, string duplicate)
    {
        var builder = ModelFileBuilder.Classify();
        builder.Config["classes"] = Raw(classes);
        AssertRejected(builder.Build(), $"config.classes has '{duplicate}' twice");
    }

    [Fact]
    public void Read_Accepts_ClassLabelsThatDifferOnlyInCase()
    {
        var builder = ModelFileBuilder.Classify();
        builder.Config["classes"] = Raw("[\"a\", \"A\", \"b\"]");
        Assert.Equal(["a", "A", "b"], Load(builder.Build()).Config.Classes);
    }

    // ---------------------------------------------------------------- config: feature and target names

    [Theory]
    [InlineData("feature_names", "\"pressure\"", "config.feature_names is not an array of strings")]
    [InlineData("feature_names", "{\"0\": \"pressure\"}", "config.feature_names is not an array of strings")]
    [InlineData("feature_names", "null", "config.feature_names is not an array of strings")]
    [InlineData("feature_names", "[\"pressure\", \"temperature\"]", "config.feature_names has 2 names; it names each feature of a time step, and input_size is 3")]
    [InlineData("feature_names", "[]", "config.feature_names has 0 names; it names each feature of a time step, and input_size is 3")]
    [InlineData("feature_names", "[\"pressure\", 2, \"flow\"]", "config.feature_names[1] is not a string")]
    [InlineData("feature_names", "[\"pressure\", \"\", \"flow\"]", "config.feature_names[1] is empty or only whitespace")]
    [InlineData("feature_names", "[\"pressure\", \"flow\", \" \\t \"]", "config.feature_names[2] is empty or only whitespace")]
    [InlineData("feature_names", "[\"flow\", \"pressure\", \"flow\"]", "config.feature_names has 'flow' twice ([0] and [2])")]
    [InlineData("target_names", "\"flow\"", "config.target_names is not an array of strings")]
    [InlineData("target_names", "[\"flow\"]", "config.target_names has 1 name; it names each value of a forecast step, and output_size is 2")]
    [InlineData("target_names", "[\"flow\", null]", "config.target_names[1] is not a string")]
    [InlineData("target_names", "[\"flow\", \"flow\"]", "config.target_names has 'flow' twice ([0] and [1])")]
    public void Read_Rejects_FeatureOrTargetNamesThatDoNotNameEachInputOrOutputOnce(string key, string names, string message)
    {
        var builder = ModelFileBuilder.Forecast(inputSize: 3, outputSize: 2);
        builder.Config[key] = Raw(names);
        AssertRejected(builder.Build(), message);
    }

    [Fact]
    public void Read_Accepts_NamesForEveryFeatureAndForecastValue_AndKeepsThemInExtra()
    {
        var builder = ModelFileBuilder.Forecast(inputSize: 3, outputSize: 2);
        builder.Config["feature_names"] = Raw("[\"flow\", \"Flow\", \" pressure \"]");
        builder.Config["target_names"] = Raw("[\"flow\", \"pressure\"]");

        GruConfig config = Load(builder.Build()).Config;

        Assert.Equal(["flow", "Flow", " pressure "], config.FeatureNames);
        Assert.Equal(["flow", "pressure"], config.TargetNames);
        Assert.Equal(3, config.Extra["feature_names"].GetArrayLength());
        Assert.Null(config.NamesProblem());
    }

    [Fact]
    public void Read_ChecksAClassifiersFeatureNames_ButNotItsTargetNames_WhichItsClassesAreInstead()
    {
        var builder = ModelFileBuilder.Classify();
        builder.Config["target_names"] = Raw("\"activity\"");
        GruConfig config = Load(builder.Build()).Config;
        Assert.Null(config.TargetNames);
        Assert.Equal("\"activity\"", config.Extra["target_names"].GetRawText());

        builder.Config["feature_names"] = Raw("[\"x\"]");
        AssertRejected(builder.Build(), "config.feature_names has 1 name; it names each feature of a time step, and input_size is 2");
    }

    [Fact]
    public void ReadStored_LoadsAFileWhoseNamesDoNotFit_WithoutShowingThemAsNames()
    {
        var builder = ModelFileBuilder.Forecast(inputSize: 3, outputSize: 2);
        builder.Config["feature_names"] = Raw("[\"pressure\", \"pressure\", \"flow\"]");
        builder.Config["target_names"] = Raw("\"flow\"");
        byte[] file = builder.Build();
        Assert.Throws<ModelFileException>(() => Load(file));

        GruConfig config = ModelFile.ReadStored(file, new ModelLimits()).Config;

        Assert.Null(config.FeatureNames);
        Assert.Null(config.TargetNames);
        Assert.Equal("config.feature_names has 'pressure' twice ([0] and [1]).", config.NamesProblem());
        Assert.Equal("\"flow\"", config.Extra["target_names"].GetRawText());
    }

    // ---------------------------------------------------------------- config: normalisation statistics

    [Theory]
    [InlineData("input_mean", "input_std")]
    [InlineData("input_std", "input_mean")]
    [InlineData("target_mean", "target_std")]
    [InlineData("target_std", "target_mean")]
    public void Read_Rejects_StatisticWithoutItsPartner(string present, string absent)
    {
        var builder = ModelFileBuilder.Forecast();
        int length = present.StartsWith("input", StringComparison.Ordinal) ? 2 : 1;
        builder.Config[present] = new JsonArray([.. Enumerable.Range(0, length).Select(_ => (JsonNode?)1.0)]);
        AssertRejected(builder.Build(), $"config has {present} without {absent}");
    }

    [Theory]
    [InlineData("input_mean", "1.0")]
    [InlineData("input_std", "\"1,1\"")]
    [InlineData("target_mean", "{}")]
    [InlineData("target_std", "null")]
    public void Read_Rejects_StatisticThatIsNotAnArray(string key, string value)
    {
        var builder = WithStatistics(ModelFileBuilder.Forecast());
        builder.Config[key] = Raw(value);
        AssertRejected(builder.Build(), $"config.{key} is not an array of numbers");
    }

    [Theory]
    [InlineData("input_mean", "[0.5]", 1, "input_size is 2")]
    [InlineData("input_std", "[1, 2, 3]", 3, "input_size is 2")]
    [InlineData("target_mean", "[]", 0, "output_size is 1")]
    [InlineData("target_std", "[1, 1]", 2, "output_size is 1")]
    public void Read_Rejects_StatisticOfWrongLength(string key, string value, int count, string lengthText)
    {
        var builder = WithStatistics(ModelFileBuilder.Forecast());
        builder.Config[key] = Raw(value);
        AssertRejected(builder.Build(), $"config.{key} has {count} values; {lengthText}");
    }

    [Fact]
    public void Read_Rejects_InputStatisticsOfWrongLengthInClassifier()
    {
        var builder = WithStatistics(ModelFileBuilder.Classify());
        builder.Config["input_mean"] = Raw("[0, 0, 0]");
        AssertRejected(builder.Build(), "config.input_mean has 3 values; input_size is 2");
    }

    [Theory]
    [InlineData("input_std", "[1, 0]", 1, "0")]
    [InlineData("input_std", "[-0.5, 1]", 0, "-0.5")]
    [InlineData("target_std", "[0]", 0, "0")]
    [InlineData("target_std", "[-0.0]", 0, "-0")]
    [InlineData("target_std", "[1e-50]", 0, "0")]
    public void Read_Rejects_NonPositiveStd(string key, string value, int index, string shown)
    {
        var builder = WithStatistics(ModelFileBuilder.Forecast());
        builder.Config[key] = Raw(value);
        AssertRejected(builder.Build(), $"config.{key}[{index}] is {shown}; a standard deviation must be positive");
    }

    [Theory]
    [InlineData("input_mean", "[0, 1e39]", 1)]
    [InlineData("input_std", "[1e400, 1]", 0)]
    [InlineData("target_mean", "[-3.5e38]", 0)]
    [InlineData("target_std", "[\"NaN\"]", 0)]
    [InlineData("input_mean", "[0, null]", 1)]
    [InlineData("input_mean", "[\"Infinity\", 0]", 0)]
    public void Read_Rejects_NonFiniteStatistic(string key, string value, int index)
    {
        var builder = WithStatistics(ModelFileBuilder.Forecast());
        builder.Config[key] = Raw(value);
        AssertRejected(builder.Build(), $"config.{key}[{index}] is not a finite float32 number");
    }

    private static ModelFileBuilder WithStatistics(ModelFileBuilder builder)
    {
        builder.Config["input_mean"] = Raw("[0.5, -1]");
        builder.Config["input_std"] = Raw("[2, 0.25]");
        if (builder.Config["task"]!.GetValue<string>() == "forecast")
        {
            builder.Config["target_mean"] = Raw("[10]");
            builder.Config["target_std"] = Raw("[3]");
        }
        // The statistics themselves are valid: only the edit a test makes afterwards can break the file.
        Assert.NotNull(Load(builder.Build()).Config.InputStd);
        return builder;
    }

    // ---------------------------------------------------------------- hostile files never escape as another exception

    [Fact]
    public void Read_ThrowsOnlyModelFileException_ForEverySingleByteCorruption()
    {
        var builder = ModelFileBuilder.Classify();
        builder.Config["input_mean"] = Raw("[0.5, -1]");
        builder.Config["input_std"] = Raw("[2, 0.25]");
        byte[] original = builder.Build();
        // Bytes that turn JSON into other JSON (digits, signs, quotes, brackets, escapes) or into invalid UTF-8.
        byte[] replacements = "0912-.e\"\\[]{},:nu ".Select(c => (byte)c).Concat(new byte[] { 0x00, 0x7F, 0x80, 0xC3, 0xFF }).ToArray();
        int rejected = 0;
        for (int position = 0; position < original.Length; position++)
        {
            foreach (byte replacement in replacements)
            {
                if (original[position] == replacement) continue;
                byte[] file = (byte[])original.Clone();
                file[position] = replacement;
                rejected += ReadOrModelFileException(file, $"byte {position} set to 0x{replacement:X2}");
            }
        }
        Assert.True(rejected > original.Length, $"Only {rejected} corrupted files were rejected.");
    }

    [Fact]
    public void Read_ThrowsOnlyModelFileException_ForEveryTruncation()
    {
        byte[] original = ModelFileBuilder.Forecast(bidirectional: true).Build();
        for (int length = 0; length < original.Length; length++)
            Assert.Equal(1, ReadOrModelFileException(original[..length], $"file truncated to {length} bytes"));
    }

    [Fact]
    public void Read_ThrowsOnlyModelFileException_ForRandomTokenReplacements()
    {
        var builder = ModelFileBuilder.Forecast(numLayers: 2, bidirectional: true);
        builder.Config["input_mean"] = Raw("[0.5, -1]");
        builder.Config["input_std"] = Raw("[2, 0.25]");
        string header = builder.BuildHeader().ToJsonString();
        // Numbers and strings of the header, including those inside the escaped config string.
        var tokens = Regex.Matches(header, @"-?\d+(\.\d+)?([eE][+-]?\d+)?|""(?:[^""\\]|\\.)*""").ToList();
        string[] hostile =
        [
            "-1", "0", "1", "2", "9", "4097", "65536", "2147483648", "4294967296", "9223372036854775807", "9223372036854775808",
            "-9223372036854775809", "18446744073709551616", "1e400", "-1e400", "1.5", "2.0", "1e2", "null", "true", "[]", "{}", "[0]",
            "[1,2]", "\"\"", "\"F64\"", "\"BF16\"", "\"F16\"", "\"\\ud800\"", "\"\\u0000\"", "\"__metadata__\"",
            "\"head.bias\"", "\"gru.weight_ih_l2\"", "\\u0022", "\\\"", "\\u0022:1,\\u0022hidden_size\\u0022:1",
        ];
        var random = new Random(1234);
        int rejected = 0;
        const int iterations = 4000;
        for (int iteration = 0; iteration < iterations; iteration++)
        {
            string text = header;
            // One to three replacements, applied from the end so earlier token positions stay valid.
            var chosen = Enumerable.Range(0, random.Next(1, 4)).Select(_ => tokens[random.Next(tokens.Count)]).Distinct().OrderByDescending(t => t.Index);
            foreach (Match token in chosen)
                text = text.Remove(token.Index, token.Length).Insert(token.Index, hostile[random.Next(hostile.Length)]);
            builder.EditHeaderText = _ => text;
            rejected += ReadOrModelFileException(builder.Build(), $"header {text}");
        }
        Assert.True(rejected > iterations * 3 / 4, $"Only {rejected} of {iterations} mutated files were rejected.");
    }

    /// <summary>1 if the file was rejected with a ModelFileException, 0 if it loaded; any other exception fails the test.</summary>
    private static int ReadOrModelFileException(byte[] file, string what)
    {
        try
        {
            ModelFile.Read(file, new ModelLimits());
            return 0;
        }
        catch (ModelFileException)
        {
            return 1;
        }
        catch (Exception e)
        {
            Assert.Fail($"{what}: {e.GetType().Name}: {e.Message}");
            return 0;
        }
    }

    // ---------------------------------------------------------------- files that load

    [Fact]
    public void WriteThenRead_ForecastBidirectionalTwoLayers_GivesIdenticalConfigAndWeights()
    {
        var random = new Random(20240611);
        var config = new GruConfig
        {
            Task = GruTask.Forecast,
            InputSize = 3,
            HiddenSize = 4,
            NumLayers = 2,
            Bidirectional = true,
            LinearBeforeReset = false,
            Horizon = 3,
            OutputSize = 2,
            InputMean = RandomValues(random, 3),
            InputStd = [0.5f, 1e-3f, 1234.5f],
            TargetMean = RandomValues(random, 2),
            TargetStd = [0.1f, 7f],
            Extra = ExtraKeys("pressure", "temperature", "flow"),
        };
        GruModel model = RandomModel(config, random);

        GruModel loaded = Load(ModelFile.Write(model));

        AssertSameConfig(config, loaded.Config);
        AssertSameWeights(model, loaded);
    }

    [Fact]
    public void WriteThenRead_ClassifierWithInputNormalisation_GivesIdenticalConfigAndWeights()
    {
        var random = new Random(7);
        var config = new GruConfig
        {
            Task = GruTask.Classify,
            InputSize = 2,
            HiddenSize = 5,
            NumLayers = 2,
            Bidirectional = false,
            Classes = ["normal", "fault", "Ünïcode ✓"],
            InputMean = [-1.5f, 3f],
            InputStd = [0.3f, 2f],
            Extra = ExtraKeys("pressure", "temperature"),
        };
        GruModel model = RandomModel(config, random);

        GruModel loaded = Load(ModelFile.Write(model, new Dictionary<string, string> { ["format"] = "pt", ["exported_by"] = "tests" }));

        AssertSameConfig(config, loaded.Config);
        AssertSameWeights(model, loaded);
    }

    [Fact]
    public void WriteThenRead_BidirectionalClassifierWithoutNormalisation_GivesIdenticalConfigAndWeights()
    {
        var config = new GruConfig { Task = GruTask.Classify, InputSize = 1, HiddenSize = 2, Bidirectional = true, Classes = ["no", "yes"] };
        GruModel model = RandomModel(config, new Random(3));

        GruModel loaded = Load(ModelFile.Write(model));

        AssertSameConfig(config, loaded.Config);
        AssertSameWeights(model, loaded);
        Assert.Null(loaded.Config.InputMean);
        Assert.Empty(loaded.Config.Extra);
    }

    [Fact]
    public void Read_DefaultsOptionalFlags_WhenAbsent()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config.Remove("bidirectional");
        builder.Config.Remove("linear_before_reset");
        GruConfig config = Load(builder.Build()).Config;
        Assert.False(config.Bidirectional);
        Assert.True(config.LinearBeforeReset);
    }

    [Fact]
    public void Read_KeepsUnknownConfigKeysInExtra()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.Config["description"] = "pump 7 pressure";
        builder.Config["feature_names"] = Raw("[\"p\", \"t\"]");
        GruConfig config = Load(builder.Build()).Config;
        Assert.Equal("pump 7 pressure", config.Extra["description"].GetString());
        Assert.Equal("[\"p\",\"t\"]", config.Extra["feature_names"].GetRawText().Replace(" ", ""));
        Assert.DoesNotContain("hidden_size", config.Extra.Keys);
    }

    [Fact]
    public void Read_Loads_F16Tensors_ExactlyConverted()
    {
        float[] values = [0.5f, -2f, 1.25f, 0f, -0.75f, 3f, 96f, 0.0078125f, -1f];
        var builder = ModelFileBuilder.Forecast();
        TensorSpec bias = builder.Tensor("gru.bias_ih_l0");
        bias.DType = "F16";
        bias.Data = ModelFileBuilder.F16Bytes(values);
        TensorSpec head = builder.Tensor("head.bias");
        head.DType = "F16";
        // 65504 is the largest F16; 0x0001 the smallest subnormal, 2^-24.
        head.Data = ModelFileBuilder.UInt16Bytes(0x7BFF, 0x0001);

        GruModel model = Load(builder.Build());

        Assert.Equal(values, model.Weights(0, 0).BiasIh);
        Assert.Equal([65504f, 1f / 16777216], model.HeadBias);
    }

    [Fact]
    public void Read_Loads_BF16Tensors_ExactlyConverted()
    {
        float[] values = [0.5f, -2f, 1.25f, 0f, -0.75f, 3f, 96f, 0.0078125f, -1f];
        var builder = ModelFileBuilder.Forecast();
        TensorSpec bias = builder.Tensor("gru.bias_hh_l0");
        bias.DType = "BF16";
        bias.Data = ModelFileBuilder.BF16Bytes(values);
        TensorSpec head = builder.Tensor("head.bias");
        head.DType = "BF16";
        // 1.01 truncated to BF16 is 0x3F81 = 1 + 2^-7; 0x7F7F is the largest BF16, far beyond F16's range.
        head.Data = ModelFileBuilder.BF16Bytes(1.01f, BitConverter.UInt32BitsToSingle(0x7F7F0000));

        GruModel model = Load(builder.Build());

        Assert.Equal(values, model.Weights(0, 0).BiasHh);
        Assert.Equal(1.0078125f, model.HeadBias[0]);
        Assert.Equal(BitConverter.UInt32BitsToSingle(0x7F7F0000), model.HeadBias[1]);
    }

    [Fact]
    public void Read_Loads_MixedDtypesInOneFile()
    {
        var builder = ModelFileBuilder.Forecast();
        float[] weights = ModelFileBuilder.PatternValues(27, 5);
        builder.Tensor("gru.weight_hh_l0").DType = "F16";
        builder.Tensor("gru.weight_hh_l0").Data = ModelFileBuilder.F16Bytes(weights);
        builder.Tensor("head.weight").DType = "BF16";
        builder.Tensor("head.weight").Data = ModelFileBuilder.BF16Bytes(0.5f, -2f, 1.25f, 0f, 4f, -8f);

        GruModel model = Load(builder.Build());

        // Pattern values are multiples of 1/16 below 1, exact in every dtype.
        Assert.Equal(weights, model.Weights(0, 0).WeightHh);
        Assert.Equal([0.5f, -2f, 1.25f, 0f, 4f, -8f], model.HeadWeight);
        Assert.Equal(ModelFileBuilder.PatternValues(18, 1), model.Weights(0, 0).WeightIh);
    }

    [Fact]
    public void Read_Ignores_MetadataKeysBesidesConfig()
    {
        var builder = ModelFileBuilder.Forecast();
        builder.OtherMetadata["format"] = "pt";
        builder.OtherMetadata["framework"] = "torch 2.4";
        builder.OtherMetadata[""] = "";
        GruModel model = Load(builder.Build());
        Assert.Equal(3, model.Config.HiddenSize);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(7)]
    [InlineData(100)]
    public void Read_Loads_HeaderPaddedWithTrailingSpaces(int padding)
    {
        var builder = ModelFileBuilder.Forecast();
        builder.HeaderPadding = padding;
        byte[] file = builder.Build();
        Assert.Equal((byte)' ', file[8 + (int)BinaryPrimitives.ReadUInt64LittleEndian(file) - 1]);
        Assert.Equal(3, Load(file).Config.HiddenSize);
    }

    [Fact]
    public void Read_Loads_FileWrittenByWrite_WhoseHeaderIsPaddedToEightBytes()
    {
        byte[] file = ModelFile.Write(Load(ModelFileBuilder.Classify().Build()));
        Assert.Equal(0UL, BinaryPrimitives.ReadUInt64LittleEndian(file) % 8);
        Assert.Equal(["a", "b", "c"], Load(file).Config.Classes);
    }

    [Fact]
    public void Read_Loads_TensorsInAnyOrder()
    {
        var inOrder = ModelFileBuilder.Forecast(numLayers: 2, bidirectional: true);
        GruModel expected = Load(inOrder.Build());

        // Data section in reverse state_dict order, header keys in yet another order, metadata last.
        var shuffled = ModelFileBuilder.Forecast(numLayers: 2, bidirectional: true);
        shuffled.Tensors.Reverse();
        shuffled.EditHeader = header =>
        {
            var entries = header.OrderBy(e => e.Key, StringComparer.Ordinal).ToList();
            header.Clear();
            foreach (var (key, value) in entries.Where(e => e.Key != "__metadata__")) header[key] = value;
            header["__metadata__"] = entries.Single(e => e.Key == "__metadata__").Value;
        };
        byte[] file = shuffled.Build();
        Assert.StartsWith("{\"gru.bias_hh_l0\"", Encoding.UTF8.GetString(file, 8, 20));

        GruModel loaded = Load(file);

        AssertSameWeights(expected, loaded);
    }

    [Fact]
    public void Read_Accepts_ModelExactlyAtEveryLimit()
    {
        byte[] file = ModelFileBuilder.Forecast(horizon: 2, outputSize: 2).Build();
        var limits = new ModelLimits
        {
            MaxFileBytes = file.Length,
            MaxHeaderBytes = (int)BinaryPrimitives.ReadUInt64LittleEndian(file),
            MaxInputSize = 2,
            MaxHiddenSize = 3,
            MaxLayers = 1,
            MaxHorizon = 2,
            MaxOutputSize = 4,
            MaxParameters = 18 + 27 + 9 + 9 + 4 * 3 + 4,
        };
        Assert.Equal(4, ModelFile.Read(file, limits).OutputsPerSequence);
    }

    [Fact]
    public void ExpectedShapes_FollowPyTorchNamesForTwoLayerBidirectionalGru()
    {
        var config = new GruConfig { Task = GruTask.Forecast, InputSize = 5, HiddenSize = 4, NumLayers = 2, Bidirectional = true, Horizon = 3, OutputSize = 2 };
        var shapes = ModelFile.ExpectedShapes(config);

        Assert.Equal(18, shapes.Count);
        Assert.Equal([12L, 5L], shapes["gru.weight_ih_l0"]);
        Assert.Equal([12L, 5L], shapes["gru.weight_ih_l0_reverse"]);
        Assert.Equal([12L, 8L], shapes["gru.weight_ih_l1"]);
        Assert.Equal([12L, 4L], shapes["gru.weight_hh_l1_reverse"]);
        Assert.Equal([12L], shapes["gru.bias_hh_l1_reverse"]);
        Assert.Equal([6L, 8L], shapes["head.weight"]);
        Assert.Equal([6L], shapes["head.bias"]);
    }

    // ---------------------------------------------------------------- helpers for the round trips

    /// <summary>Keys the format keeps as given, with <paramref name="featureNames"/> (one per input feature: the format checks them).</summary>
    private static Dictionary<string, JsonElement> ExtraKeys(params string[] featureNames) => new(StringComparer.Ordinal)
    {
        ["description"] = JsonDocument.Parse("\"pump pressure, 10 s steps\"").RootElement.Clone(),
        ["feature_names"] = JsonSerializer.SerializeToElement(featureNames),
        ["training"] = JsonDocument.Parse("{\"epochs\":40,\"lr\":0.001,\"tags\":[null,true]}").RootElement.Clone(),
    };

    private static float[] RandomValues(Random random, int count) =>
        [.. Enumerable.Range(0, count).Select(_ => (random.NextSingle() - 0.5f) * MathF.Pow(10, random.Next(-6, 4)))];

    private static GruModel RandomModel(GruConfig config, Random random)
    {
        int gates = 3 * config.HiddenSize;
        var directions = new List<GruDirectionWeights>();
        for (int layer = 0; layer < config.NumLayers; layer++)
            for (int d = 0; d < config.Directions; d++)
            {
                int input = config.LayerInputSize(layer);
                directions.Add(new GruDirectionWeights(input, config.HiddenSize,
                    RandomValues(random, gates * input), RandomValues(random, gates * config.HiddenSize),
                    RandomValues(random, gates), RandomValues(random, gates)));
            }
        return new GruModel(config, directions,
            RandomValues(random, config.HeadOutputs * config.HeadInputs), RandomValues(random, config.HeadOutputs));
    }

    private static void AssertSameConfig(GruConfig expected, GruConfig actual)
    {
        Assert.Equal(expected.Task, actual.Task);
        Assert.Equal(expected.InputSize, actual.InputSize);
        Assert.Equal(expected.HiddenSize, actual.HiddenSize);
        Assert.Equal(expected.NumLayers, actual.NumLayers);
        Assert.Equal(expected.Bidirectional, actual.Bidirectional);
        Assert.Equal(expected.LinearBeforeReset, actual.LinearBeforeReset);
        Assert.Equal(expected.Horizon, actual.Horizon);
        Assert.Equal(expected.OutputSize, actual.OutputSize);
        Assert.Equal(expected.Classes, actual.Classes);
        Assert.Equal(expected.InputMean, actual.InputMean);
        Assert.Equal(expected.InputStd, actual.InputStd);
        Assert.Equal(expected.TargetMean, actual.TargetMean);
        Assert.Equal(expected.TargetStd, actual.TargetStd);
        Assert.Equal(expected.Extra.Keys.Order(StringComparer.Ordinal), actual.Extra.Keys.Order(StringComparer.Ordinal));
        foreach (var (key, value) in expected.Extra)
            Assert.Equal(value.GetRawText(), actual.Extra[key].GetRawText());
    }

    private static void AssertSameWeights(GruModel expected, GruModel actual)
    {
        Assert.Equal(expected.Directions.Count, actual.Directions.Count);
        for (int i = 0; i < expected.Directions.Count; i++)
        {
            Assert.Equal(expected.Directions[i].WeightIh, actual.Directions[i].WeightIh);
            Assert.Equal(expected.Directions[i].WeightHh, actual.Directions[i].WeightHh);
            Assert.Equal(expected.Directions[i].BiasIh, actual.Directions[i].BiasIh);
            Assert.Equal(expected.Directions[i].BiasHh, actual.Directions[i].BiasHh);
        }
        Assert.Equal(expected.HeadWeight, actual.HeadWeight);
        Assert.Equal(expected.HeadBias, actual.HeadBias);
    }
}
