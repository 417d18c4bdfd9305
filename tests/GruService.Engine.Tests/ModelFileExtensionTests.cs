using System.Text.Json.Nodes;
using GruService.Engine.ModelFiles;
using GruService.Engine.Training.Data;

namespace GruService.Engine.Tests;

/// <summary>Parsing and validation of the forecast extension keys of the config (docs/model-format.md, "Extensions").</summary>
public class ModelFileExtensionTests
{
    /// <summary>
    /// A valid file for <paramref name="config"/> (tensors of the shapes it needs), whose config JSON is then edited:
    /// so a test breaks exactly one key.
    /// </summary>
    private static byte[] File(GruConfig config, Action<JsonObject>? edit = null)
    {
        JsonObject json = JsonNode.Parse(GruConfigJson.Write(config))!.AsObject();
        edit?.Invoke(json);
        int seed = 0;
        var tensors = ModelFile.ExpectedShapes(config).Select(e => new KeyValuePair<string, (long[], float[])>(
            e.Key, (e.Value, ModelFileBuilder.PatternValues((int)e.Value.Aggregate(1L, (a, b) => a * b), ++seed))));
        return SafetensorsFile.Write(tensors, new Dictionary<string, string> { [ModelFile.ConfigKey] = json.ToJsonString() });
    }

    private static GruConfig Forecast(WindowNormalization mode = WindowNormalization.None, int[]? targetInputs = null,
        bool channelIndependent = false, int segment = 1, int outputSize = 2) => new()
    {
        Task = GruTask.Forecast, InputSize = 3, HiddenSize = 4, Horizon = 2, OutputSize = outputSize,
        InputMean = [1, 2, 3], InputStd = [4, 5, 6],
        TargetMean = [.. (targetInputs ?? Enumerable.Range(0, outputSize).ToArray()).Select(k => new[] { 1f, 2, 3 }[k])],
        TargetStd = [.. (targetInputs ?? Enumerable.Range(0, outputSize).ToArray()).Select(k => new[] { 4f, 5, 6 }[k])],
        WindowNormalization = mode, TargetInputs = targetInputs, ChannelIndependent = channelIndependent, SegmentLength = segment,
    };

    private static GruModel Load(byte[] file, ModelLimits? limits = null) => ModelFile.Read(file, limits ?? new ModelLimits());

    private static void AssertRejected(byte[] file, params string[] messageParts) => AssertRejected(file, new ModelLimits(), messageParts);

    private static void AssertRejected(byte[] file, ModelLimits limits, params string[] messageParts)
    {
        var error = Assert.Throws<ModelFileException>(() => ModelFile.Read(file, limits));
        foreach (string part in messageParts) Assert.Contains(part, error.Message);
    }

    [Theory]
    [InlineData("mean", WindowNormalization.Mean)]
    [InlineData("last", WindowNormalization.Last)]
    public void Read_Accepts_WindowNormalizationWithTargetInputs(string mode, WindowNormalization expected)
    {
        GruModel model = Load(File(Forecast(expected, [2, 0])));
        Assert.Equal(expected, model.Config.WindowNormalization);
        Assert.Equal([2, 0], model.Config.TargetInputs!);
        Assert.Equal(mode, JsonNode.Parse(GruConfigJson.Write(model.Config))!["window_normalization"]!.GetValue<string>());
    }

    [Fact]
    public void Read_Accepts_ExplicitDefaults_AsAPlainModel()
    {
        GruModel model = Load(File(Forecast(), json =>
        {
            json["window_normalization"] = "none";
            json["channel_independent"] = false;
            json["segment_length"] = 1;
        }));
        Assert.False(model.Config.HasInputTransform);
        Assert.Equal(Forecast().LayerInputSize(0), model.Config.LayerInputSize(0));
    }

    [Theory]
    [InlineData("\"median\"", "config.window_normalization is 'median'; expected 'none', 'mean' or 'last'.")]
    [InlineData("\"Mean\"", "config.window_normalization is 'Mean'")]
    [InlineData("1", "config.window_normalization is not a string.")]
    [InlineData("null", "config.window_normalization is not a string.")]
    public void Read_Rejects_WindowNormalizationThatIsNotAMode(string value, string message) =>
        AssertRejected(File(Forecast(), json => json["window_normalization"] = JsonNode.Parse(value)), message);

    [Fact]
    public void Read_Rejects_WindowNormalizationWithoutTargetInputs() =>
        AssertRejected(File(Forecast(), json => json["window_normalization"] = "mean"), "config.window_normalization needs config.target_inputs");

    [Fact]
    public void Read_Rejects_TargetInputsWithoutWindowNormalization() =>
        AssertRejected(File(Forecast(), json => json["target_inputs"] = new JsonArray(0, 1)), "config.target_inputs is given but window_normalization is 'none'");

    [Theory]
    [InlineData("\"0,1\"", "config.target_inputs is not an array of integers.")]
    [InlineData("[0, 1.5]", "config.target_inputs[1] is not an integer.")]
    [InlineData("[\"0\", 1]", "config.target_inputs[0] is not an integer.")]
    [InlineData("[0, 4294967296]", "config.target_inputs[1] is not an integer.")]
    [InlineData("[0]", "config.target_inputs has 1 values; output_size is 2.")]
    [InlineData("[0, 1, 2]", "config.target_inputs has 3 values; output_size is 2.")]
    [InlineData("[0, 3]", "config.target_inputs[1] is 3; it must be an input column, 0 to 2.")]
    [InlineData("[-1, 0]", "config.target_inputs[0] is -1")]
    public void Read_Rejects_TargetInputsThatAreNotInputColumnsPerOutput(string value, string message) =>
        AssertRejected(File(Forecast(WindowNormalization.Last, [0, 1]), json => json["target_inputs"] = JsonNode.Parse(value)), message);

    [Theory]
    [InlineData("target_mean", "config.target_mean[1] and target_std[1]")]
    [InlineData("target_std", "config.target_mean[1] and target_std[1]")]
    public void Read_Rejects_WindowNormalizedTargetWhoseStatisticsDifferFromItsInput(string key, string message) =>
        AssertRejected(File(Forecast(WindowNormalization.Mean, [0, 2]), json => json[key]![1] = 2.5f), message, "share one standardisation");

    [Fact]
    public void Read_Rejects_WindowNormalizationWithInputStatisticsButNoTargetStatistics() =>
        AssertRejected(File(Forecast(WindowNormalization.Mean, [0, 2]), json =>
        {
            json.Remove("target_mean");
            json.Remove("target_std");
        }), "both given or both left out");

    [Fact]
    public void Read_Accepts_WindowNormalizationWithoutAnyStatistics()
    {
        GruModel model = Load(File(Forecast(WindowNormalization.Mean, [0, 2]), json =>
        {
            foreach (string key in new[] { "input_mean", "input_std", "target_mean", "target_std" }) json.Remove(key);
        }));
        Assert.Null(model.Config.InputMean);
    }

    [Theory]
    [InlineData("\"true\"")]
    [InlineData("1")]
    public void Read_Rejects_ChannelIndependentThatIsNotABoolean(string value) =>
        AssertRejected(File(Forecast(), json => json["channel_independent"] = JsonNode.Parse(value)), "config.channel_independent is not true or false.");

    [Fact]
    public void Read_Rejects_ChannelIndependentWithOutputSizeOtherThanInputSize() =>
        AssertRejected(File(Forecast(outputSize: 2), json => json["channel_independent"] = true),
            "output_size must equal input_size (3); it is 2.");

    [Fact]
    public void Read_Rejects_ChannelIndependentWhoseTargetInputsAreNotItsOwnColumns() =>
        AssertRejected(File(Forecast(WindowNormalization.Last, [0, 1, 2], channelIndependent: true, outputSize: 3), json =>
        {
            json["target_inputs"] = new JsonArray(0, 2, 1);
            json["target_mean"] = new JsonArray(1f, 3f, 2f);
            json["target_std"] = new JsonArray(4f, 6f, 5f);
        }), "config.target_inputs[1] is 2; a channel-independent model forecasts input column 1 there.");

    [Fact]
    public void Read_Refuses_APlainModelsTensors_ForAChannelIndependentSegmentedConfig()
    {
        // The file has the tensors of a plain 3-input model; the config asks for a univariate GRU reading segments of 4.
        byte[] file = File(Forecast(outputSize: 3), json =>
        {
            json["channel_independent"] = true;
            json["segment_length"] = 4;
        });
        AssertRejected(file, "Tensor 'gru.weight_ih_l0' has shape [12, 3]; expected [12, 4].");
    }

    [Fact]
    public void Read_Accepts_ChannelIndependentSegmentedModel_WithItsShapes()
    {
        GruModel model = Load(File(Forecast(WindowNormalization.Last, [0, 1, 2], channelIndependent: true, segment: 4, outputSize: 3)));
        Assert.Equal(4, model.Directions[0].InputSize);
        Assert.Equal(2, model.HeadBias.Length); // horizon 2 × one column
        Assert.Equal(6, model.OutputsPerSequence);
    }

    [Theory]
    [InlineData("0", "config.segment_length is 0; it must be between 1 and 65536.")]
    [InlineData("-2", "config.segment_length is -2")]
    [InlineData("2.5", "config.segment_length is not an integer.")]
    [InlineData("\"4\"", "config.segment_length is not an integer.")]
    public void Read_Rejects_SegmentLengthThatIsNotAPositiveInteger(string value, string message) =>
        AssertRejected(File(Forecast(), json => json["segment_length"] = JsonNode.Parse(value)), message);

    [Fact]
    public void Read_Rejects_SegmentedInputWiderThanTheInputSizeLimit() =>
        AssertRejected(File(Forecast(), json => json["segment_length"] = 30), new ModelLimits { MaxInputSize = 64 },
            "The GRU reads 90 values per step (input_size × segment_length); the limit is 64.");

    [Theory]
    [InlineData("window_normalization", "\"last\"")]
    [InlineData("channel_independent", "true")]
    [InlineData("segment_length", "2")]
    public void Read_Rejects_ForecastExtensionsOnAClassifier(string key, string value)
    {
        var classifier = new GruConfig { Task = GruTask.Classify, InputSize = 2, HiddenSize = 3, Classes = ["a", "b"] };
        AssertRejected(File(classifier, json => json[key] = JsonNode.Parse(value)), "forecast extensions; a classify model cannot use them");
    }

    [Fact]
    public void GruModel_Refuses_AnInconsistentConfigBuiltInCode()
    {
        GruConfig config = Forecast(WindowNormalization.Mean, targetInputs: null);
        var parameters = new Engine.Training.GruParameters<float>(Forecast());
        GruModel plain = parameters.ToModel();
        var error = Assert.Throws<ArgumentException>(() => new GruModel(config, plain.Directions, plain.HeadWeight, plain.HeadBias));
        Assert.Contains("needs config.target_inputs", error.Message);
    }
}
