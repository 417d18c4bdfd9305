using GruService.Engine.ModelFiles;

namespace GruService.Engine.Training;

/// <summary>One trainable tensor's place in the flat parameter (and gradient) array.</summary>
/// <param name="Name">The model file's tensor name, e.g. <c>gru.weight_hh_l1_reverse</c>.</param>
/// <param name="Offset">Index of its first value in the flat array.</param>
/// <param name="Length">Number of values.</param>
/// <param name="Shape">Its shape, row-major.</param>
public sealed record ParameterTensor(string Name, int Offset, int Length, long[] Shape);

/// <summary>Where each tensor of a config lives in the flat array: <see cref="ModelFile.ExpectedShapes"/> order, back to back.</summary>
internal sealed class GruParameterLayout
{
    private readonly Dictionary<string, ParameterTensor> _byName = new(StringComparer.Ordinal);
    private readonly DirectionOffsets[] _directions;

    public GruParameterLayout(GruConfig config)
    {
        if (config.InputSize < 1 || config.HiddenSize < 1 || config.NumLayers < 1 || config.HeadOutputs < 1)
            throw new ArgumentException("The config needs input_size, hidden_size, num_layers and head outputs of at least 1.", nameof(config));
        Config = config;
        var tensors = new List<ParameterTensor>();
        long offset = 0;
        foreach (var (name, shape) in ModelFile.ExpectedShapes(config))
        {
            long length = shape.Aggregate(1L, (a, b) => a * b);
            if (offset + length > Array.MaxLength)
                throw new ArgumentException("The config has more parameters than one array can hold.", nameof(config));
            var tensor = new ParameterTensor(name, (int)offset, (int)length, shape);
            tensors.Add(tensor);
            _byName[name] = tensor;
            offset += length;
        }
        Tensors = tensors;
        Count = (int)offset;

        _directions = new DirectionOffsets[config.NumLayers * config.Directions];
        for (int layer = 0; layer < config.NumLayers; layer++)
            for (int d = 0; d < config.Directions; d++)
            {
                string suffix = $"_l{layer}" + (d == 1 ? "_reverse" : "");
                _directions[layer * config.Directions + d] = new DirectionOffsets(
                    _byName["gru.weight_ih" + suffix].Offset, _byName["gru.weight_hh" + suffix].Offset,
                    _byName["gru.bias_ih" + suffix].Offset, _byName["gru.bias_hh" + suffix].Offset);
            }
        HeadWeight = _byName["head.weight"].Offset;
        HeadBias = _byName["head.bias"].Offset;
    }

    public GruConfig Config { get; }
    public IReadOnlyList<ParameterTensor> Tensors { get; }
    public int Count { get; }
    public int HeadWeight { get; }
    public int HeadBias { get; }

    public DirectionOffsets Direction(int layer, int direction) => _directions[layer * Config.Directions + direction];

    public ParameterTensor Find(string name) =>
        _byName.TryGetValue(name, out ParameterTensor? tensor)
            ? tensor
            : throw new ArgumentException($"No parameter tensor '{name}' in this model.", nameof(name));

    /// <summary>Whether parameters laid out for <paramref name="other"/> compute the same function as for this config.</summary>
    public bool Fits(GruConfig other) =>
        other.Task == Config.Task && other.InputSize == Config.InputSize && other.HiddenSize == Config.HiddenSize
        && other.NumLayers == Config.NumLayers && other.Bidirectional == Config.Bidirectional
        && other.LinearBeforeReset == Config.LinearBeforeReset && other.HeadOutputs == Config.HeadOutputs
        && other.LayerInputSize(0) == Config.LayerInputSize(0);
}

/// <summary>Flat offsets of one layer direction's four tensors.</summary>
internal readonly record struct DirectionOffsets(int WeightIh, int WeightHh, int BiasIh, int BiasHh);
