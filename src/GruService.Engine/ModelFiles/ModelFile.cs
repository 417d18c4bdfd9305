using System.Buffers.Binary;
using System.Text.Json;

namespace GruService.Engine.ModelFiles;

/// <summary>
/// The GruService model file: a safetensors file whose metadata key <c>config</c> holds the <see cref="GruConfig"/>
/// and whose tensors carry the names a PyTorch module with attributes <c>gru</c> (nn.GRU) and <c>head</c> (nn.Linear) gives.
/// </summary>
public static class ModelFile
{
    public const string ConfigKey = "config";

    /// <summary>
    /// Parses and validates a whole model file, as the service does every file before it stores it (an upload, a
    /// training job's result, a bundled model). Throws <see cref="ModelFileException"/> naming the first problem.
    /// </summary>
    public static GruModel Read(ReadOnlyMemory<byte> bytes, ModelLimits limits) => ReadModel(bytes, limits, checkNames: true);

    /// <summary>
    /// Parses a file the service stored earlier, as <see cref="Read"/> does except that feature_names and target_names
    /// that do not fit the model are kept rather than refused (<see cref="GruConfig.FeatureNames"/> then leaves them
    /// out): files stored before those keys were checked must keep loading, since refusing one now would stop its
    /// model serving at the next start.
    /// </summary>
    public static GruModel ReadStored(ReadOnlyMemory<byte> bytes, ModelLimits limits) => ReadModel(bytes, limits, checkNames: false);

    private static GruModel ReadModel(ReadOnlyMemory<byte> bytes, ModelLimits limits, bool checkNames)
    {
        SafetensorsFile file = SafetensorsFile.Parse(bytes, limits);
        if (!file.Metadata.TryGetValue(ConfigKey, out string? configJson))
            throw new ModelFileException("__metadata__ has no 'config' key; see docs/model-format.md.");
        GruConfig config = GruConfigJson.Parse(configJson, limits);
        if (checkNames && config.NamesProblem() is { } namesProblem)
            throw new ModelFileException(namesProblem);

        var expected = ExpectedShapes(config);
        long parameters = expected.Sum(e => e.Value.Aggregate(1L, (a, b) => a * b));
        if (parameters > limits.MaxParameters)
            throw new ModelFileException($"The model has {parameters} parameters; the limit is {limits.MaxParameters}.");

        foreach (string name in file.Tensors.Keys)
            if (!expected.ContainsKey(name))
                throw new ModelFileException($"Unexpected tensor '{name}' for a {Describe(config)} model. {NamingAdvice(file.Tensors.Keys, expected)}");

        var values = new Dictionary<string, float[]>(StringComparer.Ordinal);
        foreach (var (name, shape) in expected)
        {
            if (!file.Tensors.TryGetValue(name, out SafetensorsEntry? entry))
                throw new ModelFileException($"Tensor '{name}' [{string.Join(", ", shape)}] is missing.{MissingBiasAdvice(name, shape)}");
            if (!entry.Shape.AsSpan().SequenceEqual(shape))
                throw new ModelFileException($"Tensor '{name}' has shape [{string.Join(", ", entry.Shape)}]; expected [{string.Join(", ", shape)}].");
            float[] data = file.ReadFloat32(entry);
            int bad = Array.FindIndex(data, v => !float.IsFinite(v));
            if (bad >= 0)
                throw new ModelFileException($"Tensor '{name}' holds a non-finite value ({data[bad]}) at flat index {bad}.");
            values[name] = data;
        }

        var directions = new List<GruDirectionWeights>();
        for (int layer = 0; layer < config.NumLayers; layer++)
            for (int d = 0; d < config.Directions; d++)
            {
                string suffix = Suffix(layer, d);
                directions.Add(new GruDirectionWeights(config.LayerInputSize(layer), config.HiddenSize,
                    values[$"gru.weight_ih{suffix}"], values[$"gru.weight_hh{suffix}"],
                    values[$"gru.bias_ih{suffix}"], values[$"gru.bias_hh{suffix}"]));
            }
        return new GruModel(config, directions, values["head.weight"], values["head.bias"]);
    }

    /// <summary>
    /// The task a model file's config names, from its header alone, without reading or checking the tensors: for a
    /// store that must learn the task of a version stored before it recorded tasks. Throws
    /// <see cref="ModelFileException"/> when the header does not say.
    /// </summary>
    public static GruTask ReadTask(Stream file)
    {
        try
        {
            Span<byte> prefix = stackalloc byte[8];
            file.ReadExactly(prefix);
            ulong headerLength = BinaryPrimitives.ReadUInt64LittleEndian(prefix);
            if (headerLength > (ulong)Math.Min(file.Length - 8, int.MaxValue))
                throw new ModelFileException($"The header length {headerLength} runs past the end of the {file.Length}-byte file.");
            byte[] header = new byte[(int)headerLength];
            file.ReadExactly(header);
            using var document = JsonDocument.Parse(header);
            if (document.RootElement.ValueKind != JsonValueKind.Object || !document.RootElement.TryGetProperty("__metadata__", out var metadata)
                || metadata.ValueKind != JsonValueKind.Object || !metadata.TryGetProperty(ConfigKey, out var config) || config.ValueKind != JsonValueKind.String)
                throw new ModelFileException("__metadata__ has no 'config' key.");
            using var configDocument = JsonDocument.Parse(config.GetString()!);
            string? task = configDocument.RootElement.ValueKind == JsonValueKind.Object
                && configDocument.RootElement.TryGetProperty("task", out var value) && value.ValueKind == JsonValueKind.String
                ? value.GetString()
                : null;
            return GruTaskNames.Parse(task)
                ?? throw new ModelFileException($"config.task is {(task is null ? "missing" : $"'{task}'")}; expected 'forecast' or 'classify'.");
        }
        catch (Exception e) when (e is JsonException or EndOfStreamException)
        {
            throw new ModelFileException($"The header cannot be read: {e.Message}");
        }
    }

    /// <summary>Writes a model in the file format (F32 tensors); <see cref="Read"/> gives it back unchanged.</summary>
    public static byte[] Write(GruModel model, IReadOnlyDictionary<string, string>? extraMetadata = null)
    {
        GruConfig config = model.Config;
        var shapes = ExpectedShapes(config);
        var tensors = new List<KeyValuePair<string, (long[], float[])>>();
        for (int layer = 0; layer < config.NumLayers; layer++)
            for (int d = 0; d < config.Directions; d++)
            {
                GruDirectionWeights w = model.Weights(layer, d);
                string suffix = Suffix(layer, d);
                Add($"gru.weight_ih{suffix}", w.WeightIh);
                Add($"gru.weight_hh{suffix}", w.WeightHh);
                Add($"gru.bias_ih{suffix}", w.BiasIh);
                Add($"gru.bias_hh{suffix}", w.BiasHh);
            }
        Add("head.weight", model.HeadWeight);
        Add("head.bias", model.HeadBias);

        var metadata = new Dictionary<string, string>(extraMetadata ?? new Dictionary<string, string>(), StringComparer.Ordinal)
        {
            [ConfigKey] = GruConfigJson.Write(config),
        };
        return SafetensorsFile.Write(tensors, metadata);

        void Add(string name, float[] data) => tensors.Add(new(name, (shapes[name], data)));
    }

    /// <summary>Every tensor a model with this config must have, with its shape, in state_dict order.</summary>
    public static IReadOnlyDictionary<string, long[]> ExpectedShapes(GruConfig config)
    {
        var shapes = new Dictionary<string, long[]>(StringComparer.Ordinal);
        long gates = 3L * config.HiddenSize;
        for (int layer = 0; layer < config.NumLayers; layer++)
            for (int d = 0; d < config.Directions; d++)
            {
                string suffix = Suffix(layer, d);
                shapes[$"gru.weight_ih{suffix}"] = [gates, config.LayerInputSize(layer)];
                shapes[$"gru.weight_hh{suffix}"] = [gates, config.HiddenSize];
                shapes[$"gru.bias_ih{suffix}"] = [gates];
                shapes[$"gru.bias_hh{suffix}"] = [gates];
            }
        shapes["head.weight"] = [config.HeadOutputs, config.HeadInputs];
        shapes["head.bias"] = [config.HeadOutputs];
        return shapes;
    }

    /// <summary>
    /// Why a state_dict's names may not fit, for the message about an unexpected tensor: most often the module's
    /// attributes have other names (rnn, fc), or a wrapper put a prefix before every name (module. from
    /// nn.DataParallel and DistributedDataParallel, _orig_mod. from torch.compile).
    /// </summary>
    private static string NamingAdvice(IEnumerable<string> names, IReadOnlyDictionary<string, long[]> expected)
    {
        const string rule = "Tensor names must start with 'gru.' (the nn.GRU) and 'head.' (the nn.Linear), as a module with the attributes gru and head "
            + "saves them (see docs/model-format.md).";
        string[] all = [.. names];
        if (CommonPrefix(all, expected) is { } prefix)
            return $"{rule} Every name here has the prefix '{prefix}' before such a name{(prefix switch
            {
                "module." => " (nn.DataParallel and DistributedDataParallel add it)",
                "_orig_mod." => " (torch.compile adds it)",
                _ => "",
            })}: strip it when saving, e.g. save_file({{k.removeprefix('{prefix}'): v for k, v in model.state_dict().items()}}, ...).";

        // The GRU's tensors, whatever its attribute is called, end in weight_ih_l0 and the like.
        string[] gruPrefixes = [.. all.Where(IsGruParameter).Select(n => n[..(n.LastIndexOf('.') + 1)]).Distinct().Order(StringComparer.Ordinal)];
        if (gruPrefixes.Length != 1 || gruPrefixes[0] == "gru.") return rule;
        string[] others = [.. all.Where(n => !IsGruParameter(n) && n.Contains('.')).Select(n => n[..(n.LastIndexOf('.') + 1)]).Distinct().Order(StringComparer.Ordinal).Take(3)];
        return $"{rule} Here the GRU's tensors start with '{gruPrefixes[0]}'{(others.Length == 0 ? "" : $" and the others with {string.Join(", ", others.Select(o => $"'{o}'"))}")}: "
            + "name the module's attributes gru and head, or rename the keys when saving.";

        static bool IsGruParameter(string name)
        {
            string last = name[(name.LastIndexOf('.') + 1)..];
            return name.Contains('.') && (last.StartsWith("weight_ih_l", StringComparison.Ordinal) || last.StartsWith("weight_hh_l", StringComparison.Ordinal)
                || last.StartsWith("bias_ih_l", StringComparison.Ordinal) || last.StartsWith("bias_hh_l", StringComparison.Ordinal));
        }
    }

    /// <summary>The prefix ending in '.' that every name has before an expected name, if there is one.</summary>
    private static string? CommonPrefix(string[] names, IReadOnlyDictionary<string, long[]> expected)
    {
        if (names.Length == 0) return null;
        foreach (string tensor in expected.Keys)
        {
            if (!names[0].EndsWith("." + tensor, StringComparison.Ordinal)) continue;
            string prefix = names[0][..^tensor.Length];
            if (names.All(n => n.StartsWith(prefix, StringComparison.Ordinal) && expected.ContainsKey(n[prefix.Length..]))) return prefix;
        }
        return null;
    }

    /// <summary>
    /// For a missing bias: GruService computes with the biases, and a module built with bias=False has none to save.
    /// Zero biases compute exactly what such a module does.
    /// </summary>
    private static string MissingBiasAdvice(string name, long[] shape)
    {
        if (name.StartsWith("gru.bias_", StringComparison.Ordinal))
            return " GruService needs the GRU's biases: nn.GRU has them by default (bias=True); for a model built with bias=False, save zero biases, "
                + $"e.g. state_dict['{name}'] = torch.zeros({shape[0]}) for each layer and direction.";
        if (name == "head.bias")
            return $" GruService needs the head's bias: nn.Linear has it by default (bias=True); for a head built with bias=False, save zeros, e.g. state_dict['head.bias'] = torch.zeros({shape[0]}).";
        return "";
    }

    private static string Suffix(int layer, int direction) => $"_l{layer}" + (direction == 1 ? "_reverse" : "");

    private static string Describe(GruConfig c) =>
        $"{c.NumLayers}-layer{(c.Bidirectional ? " bidirectional" : "")} {GruTaskNames.NameOf(c.Task)}";
}
