using System.Text.Json;
using GruService.Engine.Training.Data;

namespace GruService.Engine;

/// <summary>
/// Everything about a model except its weights: architecture, head and normalisation.
/// Serialised as the JSON string in the safetensors metadata key <c>config</c>.
/// </summary>
public sealed record GruConfig
{
    public const string FormatV1 = "gru-service/v1";

    public required GruTask Task { get; init; }
    public required int InputSize { get; init; }
    public required int HiddenSize { get; init; }
    public int NumLayers { get; init; } = 1;
    public bool Bidirectional { get; init; }

    /// <summary>
    /// True (PyTorch, ONNX linear_before_reset=1): n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn)).
    /// False (Cho et al., Keras reset_after=False): n = tanh(W_in x + b_in + W_hn (r ⊙ h) + b_hn).
    /// </summary>
    public bool LinearBeforeReset { get; init; } = true;

    /// <summary>Forecast: number of future steps predicted.</summary>
    public int Horizon { get; init; }

    /// <summary>Forecast: values predicted per future step.</summary>
    public int OutputSize { get; init; }

    /// <summary>Classify: the class labels, in head row order.</summary>
    public IReadOnlyList<string> Classes { get; init; } = [];

    public float[]? InputMean { get; init; }
    public float[]? InputStd { get; init; }
    public float[]? TargetMean { get; init; }
    public float[]? TargetStd { get; init; }

    /// <summary>
    /// Forecast extension (config key <c>window_normalization</c>): each standardised input sequence has a per-column
    /// offset (its mean or last value) subtracted, and the forecast gets it back; the math is <see cref="WindowNormalizer"/>'s.
    /// </summary>
    public WindowNormalization WindowNormalization { get; init; }

    /// <summary>
    /// Forecast extension (<c>target_inputs</c>), with <see cref="WindowNormalization"/>: for each output column, the
    /// input column whose offset it gets back.
    /// </summary>
    public IReadOnlyList<int>? TargetInputs { get; init; }

    /// <summary>
    /// Forecast extension (<c>channel_independent</c>): one univariate GRU and head forecast every input column on its
    /// own; output column c is input column c.
    /// </summary>
    public bool ChannelIndependent { get; init; }

    /// <summary>
    /// Forecast extension (<c>segment_length</c>): the GRU reads this many consecutive time steps per GRU step, so a
    /// sequence's length must be a multiple of it.
    /// </summary>
    public int SegmentLength { get; init; } = 1;

    /// <summary>
    /// Config keys this format does not interpret (a description, training information), and feature_names and
    /// target_names, which it checks (<see cref="NamesProblem"/>) but keeps here, as given, with the others.
    /// </summary>
    public IReadOnlyDictionary<string, JsonElement> Extra { get; init; } = new Dictionary<string, JsonElement>();

    public int Directions => Bidirectional ? 2 : 1;

    /// <summary>Values of one sequence's answer: horizon × output_size for forecasts, the class count for classifiers.</summary>
    public int OutputsPerSequence => Task == GruTask.Forecast ? Horizon * OutputSize : Classes.Count;

    /// <summary>GRU sequences one input sequence becomes: one per column when channel-independent, otherwise one.</summary>
    public int Channels => ChannelIndependent ? InputSize : 1;

    /// <summary>Whether the GRU reads anything but the standardised time steps as they come (any forecast extension).</summary>
    public bool HasInputTransform => WindowNormalization != WindowNormalization.None || ChannelIndependent || SegmentLength > 1;

    /// <summary>
    /// Rows of head.weight: horizon × output_size for forecasts (horizon for channel-independent ones, whose head
    /// forecasts one column), the class count for classifiers.
    /// </summary>
    public int HeadOutputs => Task == GruTask.Forecast ? Horizon * (ChannelIndependent ? 1 : OutputSize) : Classes.Count;

    /// <summary>Columns of head.weight: the final hidden states of every direction of the last layer.</summary>
    public int HeadInputs => HiddenSize * Directions;

    /// <summary>
    /// Width of the input that layer <paramref name="layer"/> reads at each GRU step: for layer 0 the columns of a time
    /// step (1 when channel-independent) times the segment length.
    /// </summary>
    public int LayerInputSize(int layer) => layer == 0 ? (ChannelIndependent ? 1 : InputSize) * SegmentLength : HiddenSize * Directions;

    /// <summary>
    /// Why the forecast extensions do not fit the rest of this config, in config key names; null when they fit (as
    /// they always do in a config that uses none).
    /// </summary>
    public string? ExtensionProblem()
    {
        if (!Enum.IsDefined(WindowNormalization))
            return $"config.window_normalization is {WindowNormalization}, not a known mode.";
        if (SegmentLength < 1)
            return $"config.segment_length is {SegmentLength}; it must be at least 1.";
        if (Task != GruTask.Forecast && (HasInputTransform || TargetInputs is not null))
            return "window_normalization, target_inputs, channel_independent and segment_length are forecast extensions; a classify model cannot use them.";
        if (ChannelIndependent && OutputSize != InputSize)
            return $"config.channel_independent forecasts every input column: output_size must equal input_size ({InputSize}); it is {OutputSize}.";
        if (WindowNormalization == WindowNormalization.None)
            return TargetInputs is null ? null : "config.target_inputs is given but window_normalization is 'none': it only says where window offsets go back.";

        if (TargetInputs is null)
            return "config.window_normalization needs config.target_inputs: the input column whose offset each output column gets back.";
        if (TargetInputs.Count != OutputSize)
            return $"config.target_inputs has {TargetInputs.Count} values; output_size is {OutputSize}.";
        for (int j = 0; j < TargetInputs.Count; j++)
        {
            int k = TargetInputs[j];
            if ((uint)k >= (uint)InputSize)
                return $"config.target_inputs[{j}] is {k}; it must be an input column, 0 to {InputSize - 1}.";
            if (ChannelIndependent && k != j)
                return $"config.target_inputs[{j}] is {k}; a channel-independent model forecasts input column {j} there.";
        }
        // The offset is taken in the input's standardised units and added in the target's: they must be the same units.
        if ((InputMean is null) != (TargetMean is null))
            return "config.window_normalization needs input_mean/input_std and target_mean/target_std both given or both left out: the offset moves from one to the other.";
        if (InputMean is not null && InputStd is not null && TargetMean is not null && TargetStd is not null)
            for (int j = 0; j < TargetInputs.Count; j++)
            {
                int k = TargetInputs[j];
                if (TargetMean[j] != InputMean[k] || TargetStd[j] != InputStd[k])
                    return $"config.target_mean[{j}] and target_std[{j}] ({TargetMean[j]}, {TargetStd[j]}) differ from input_mean[{k}] and input_std[{k}] " +
                        $"({InputMean[k]}, {InputStd[k]}): with window_normalization an output column and its target input share one standardisation.";
            }
        return null;
    }

    /// <summary>
    /// Config keys, kept in <see cref="Extra"/> as given, that name the features of a time step (feature_names) and a
    /// forecast step's values (target_names), in order.
    /// </summary>
    public const string FeatureNamesKey = "feature_names", TargetNamesKey = "target_names";

    /// <summary>The names of a time step's features, in order; null when feature_names is absent or <see cref="NamesProblem"/> refuses it.</summary>
    public IReadOnlyList<string>? FeatureNames => ReadFeatureNames(out string[]? names) is null ? names : null;

    /// <summary>
    /// Forecasts: the names of a forecast step's values, in order; null when target_names is absent or
    /// <see cref="NamesProblem"/> refuses it, and for classify models, whose outputs <see cref="Classes"/> names.
    /// </summary>
    public IReadOnlyList<string>? TargetNames => ReadTargetNames(out string[]? names) is null ? names : null;

    /// <summary>
    /// Why feature_names, or a forecast's target_names, does not name this model's features or forecast values, in
    /// config key names; null when it does, or the key is absent. A classify model's outputs are named by classes, so
    /// its target_names is an ordinary metadata key, not checked.
    /// </summary>
    public string? NamesProblem() => ReadFeatureNames(out _) ?? ReadTargetNames(out _);

    private string? ReadFeatureNames(out string[]? names) =>
        ReadNames(FeatureNamesKey, InputSize, "input_size", "each feature of a time step", out names);

    private string? ReadTargetNames(out string[]? names)
    {
        names = null;
        return Task == GruTask.Forecast ? ReadNames(TargetNamesKey, OutputSize, "output_size", "each value of a forecast step", out names) : null;
    }

    /// <summary>
    /// The names under <paramref name="key"/> (null when absent), or why they are not <paramref name="count"/>
    /// distinct strings that are not blank: a list a client reads to put each value in its place must leave no doubt.
    /// </summary>
    private string? ReadNames(string key, int count, string countKey, string named, out string[]? names)
    {
        names = null;
        if (!Extra.TryGetValue(key, out JsonElement value)) return null;
        if (value.ValueKind != JsonValueKind.Array)
            return $"config.{key} is not an array of strings.";
        int length = value.GetArrayLength();
        if (length != count)
            return $"config.{key} has {length} name{(length == 1 ? "" : "s")}; it names {named}, and {countKey} is {count}.";
        var result = new string[count];
        var seen = new Dictionary<string, int>(StringComparer.Ordinal);
        int i = 0;
        foreach (JsonElement item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String)
                return $"config.{key}[{i}] is not a string.";
            string name = item.GetString()!;
            if (string.IsNullOrWhiteSpace(name))
                return $"config.{key}[{i}] is empty or only whitespace.";
            if (!seen.TryAdd(name, i))
                return $"config.{key} has '{name}' twice ([{seen[name]}] and [{i}]).";
            result[i++] = name;
        }
        names = result;
        return null;
    }
}
