namespace GruService.Engine;

/// <summary>
/// The weights of one direction of one layer, in PyTorch layout: gate rows stacked r, z, n.
/// </summary>
public sealed class GruDirectionWeights
{
    public GruDirectionWeights(int inputSize, int hiddenSize, float[] weightIh, float[] weightHh, float[] biasIh, float[] biasHh)
    {
        int gates = 3 * hiddenSize;
        Check(weightIh, gates * inputSize, nameof(weightIh));
        Check(weightHh, gates * hiddenSize, nameof(weightHh));
        Check(biasIh, gates, nameof(biasIh));
        Check(biasHh, gates, nameof(biasHh));
        InputSize = inputSize;
        HiddenSize = hiddenSize;
        WeightIh = weightIh;
        WeightHh = weightHh;
        BiasIh = biasIh;
        BiasHh = biasHh;
    }

    public int InputSize { get; }
    public int HiddenSize { get; }

    /// <summary>[3H, input] row-major.</summary>
    public float[] WeightIh { get; }

    /// <summary>[3H, H] row-major.</summary>
    public float[] WeightHh { get; }

    /// <summary>[3H].</summary>
    public float[] BiasIh { get; }

    /// <summary>[3H].</summary>
    public float[] BiasHh { get; }

    public long ParameterCount => (long)WeightIh.Length + WeightHh.Length + BiasIh.Length + BiasHh.Length;

    private static void Check(float[] values, long expected, string name)
    {
        if (values.Length != expected)
            throw new ArgumentException($"{name} has {values.Length} values; expected {expected}.", name);
    }
}
