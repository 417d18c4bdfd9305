using System.Text.Json;

namespace GruService.Engine;

/// <summary>
/// Everything about a model except its weights: architecture, head and normalisation.
/// Serialised as the JSON string in the safetensors metadata key <c>config</c>.
/// </summary>
public sealed class GruConfig
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

    /// <summary>Config keys this format does not interpret (description, feature names, training info), kept as given.</summary>
    public IReadOnlyDictionary<string, JsonElement> Extra { get; init; } = new Dictionary<string, JsonElement>();

    public int Directions => Bidirectional ? 2 : 1;

    /// <summary>Rows of head.weight: horizon × output_size for forecasts, the class count for classifiers.</summary>
    public int HeadOutputs => Task == GruTask.Forecast ? Horizon * OutputSize : Classes.Count;

    /// <summary>Columns of head.weight: the final hidden states of every direction of the last layer.</summary>
    public int HeadInputs => HiddenSize * Directions;

    /// <summary>Width of the input that layer <paramref name="layer"/> reads at each step.</summary>
    public int LayerInputSize(int layer) => layer == 0 ? InputSize : HiddenSize * Directions;
}
