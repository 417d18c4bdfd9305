using System.Numerics;

namespace GruService.Engine.Training;

/// <summary>
/// Every trainable tensor of a config in one flat array, in the model file's tensor order, so that optimisers and
/// gradients work on one span. <see cref="Tensors"/> and <see cref="Tensor"/> give the named views.
/// </summary>
public sealed class GruParameters<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>All parameters zero.</summary>
    public GruParameters(GruConfig config)
        : this(new GruParameterLayout(config))
    {
    }

    private GruParameters(GruParameterLayout layout)
    {
        Layout = layout;
        Values = new T[layout.Count];
    }

    public GruConfig Config => Layout.Config;

    /// <summary>The flat values; a gradient for these parameters has the same length and layout.</summary>
    public T[] Values { get; }

    public IReadOnlyList<ParameterTensor> Tensors => Layout.Tensors;

    internal GruParameterLayout Layout { get; }

    /// <summary>The values of the tensor with the model file name <paramref name="name"/> (e.g. <c>gru.bias_hh_l0</c>).</summary>
    public Span<T> Tensor(string name)
    {
        ParameterTensor tensor = Layout.Find(name);
        return Values.AsSpan(tensor.Offset, tensor.Length);
    }

    /// <summary>
    /// PyTorch's default initialisation: nn.GRU draws every weight and bias from U(−1/√H, 1/√H), nn.Linear draws its
    /// weight and bias from U(−1/√fan_in, 1/√fan_in). Values are drawn in <see cref="Tensors"/> order, so a seed fixes them.
    /// </summary>
    public void InitializeLikePyTorch(Random random)
    {
        double gruBound = 1 / Math.Sqrt(Config.HiddenSize), headBound = 1 / Math.Sqrt(Config.HeadInputs);
        foreach (ParameterTensor tensor in Tensors)
        {
            double bound = tensor.Name.StartsWith("head.", StringComparison.Ordinal) ? headBound : gruBound;
            Span<T> values = Values.AsSpan(tensor.Offset, tensor.Length);
            for (int i = 0; i < values.Length; i++)
                values[i] = T.CreateTruncating((2 * random.NextDouble() - 1) * bound);
        }
    }

    public static GruParameters<T> FromModel(GruModel model)
    {
        var parameters = new GruParameters<T>(model.Config);
        GruParameterLayout layout = parameters.Layout;
        Span<T> values = parameters.Values;
        for (int layer = 0; layer < model.Config.NumLayers; layer++)
            for (int d = 0; d < model.Config.Directions; d++)
            {
                GruDirectionWeights w = model.Weights(layer, d);
                DirectionOffsets at = layout.Direction(layer, d);
                Convert(w.WeightIh, values.Slice(at.WeightIh, w.WeightIh.Length));
                Convert(w.WeightHh, values.Slice(at.WeightHh, w.WeightHh.Length));
                Convert(w.BiasIh, values.Slice(at.BiasIh, w.BiasIh.Length));
                Convert(w.BiasHh, values.Slice(at.BiasHh, w.BiasHh.Length));
            }
        Convert(model.HeadWeight, values.Slice(layout.HeadWeight, model.HeadWeight.Length));
        Convert(model.HeadBias, values.Slice(layout.HeadBias, model.HeadBias.Length));
        return parameters;

        static void Convert(float[] source, Span<T> destination)
        {
            for (int i = 0; i < source.Length; i++) destination[i] = T.CreateTruncating(source[i]);
        }
    }

    /// <summary>A float32 inference model with this config (normalisation statistics included) and these values.</summary>
    public GruModel ToModel()
    {
        GruConfig config = Config;
        int gates = 3 * config.HiddenSize;
        var directions = new List<GruDirectionWeights>(config.NumLayers * config.Directions);
        for (int layer = 0; layer < config.NumLayers; layer++)
            for (int d = 0; d < config.Directions; d++)
            {
                DirectionOffsets at = Layout.Direction(layer, d);
                directions.Add(new GruDirectionWeights(config.LayerInputSize(layer), config.HiddenSize,
                    ToFloat(at.WeightIh, gates * config.LayerInputSize(layer)), ToFloat(at.WeightHh, gates * config.HiddenSize),
                    ToFloat(at.BiasIh, gates), ToFloat(at.BiasHh, gates)));
            }
        return new GruModel(config, directions,
            ToFloat(Layout.HeadWeight, config.HeadOutputs * config.HeadInputs), ToFloat(Layout.HeadBias, config.HeadOutputs));

        float[] ToFloat(int offset, int length)
        {
            var result = new float[length];
            for (int i = 0; i < length; i++) result[i] = float.CreateTruncating(Values[offset + i]);
            return result;
        }
    }

    public GruParameters<T> Clone()
    {
        var copy = new GruParameters<T>(Layout);
        Values.CopyTo(copy.Values, 0);
        return copy;
    }
}
