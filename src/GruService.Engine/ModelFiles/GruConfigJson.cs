using System.Text.Json;
using System.Text.Json.Nodes;
using GruService.Engine.Training.Data;

namespace GruService.Engine.ModelFiles;

/// <summary>Reads and writes the <c>config</c> JSON string of a model file, checking every field.</summary>
public static class GruConfigJson
{
    private static readonly HashSet<string> KnownKeys =
    [
        "format", "task", "input_size", "hidden_size", "num_layers", "bidirectional", "linear_before_reset",
        "horizon", "output_size", "target_mean", "target_std", "classes", "input_mean", "input_std",
        // Forecast extensions (docs/model-format.md, "Extensions").
        "window_normalization", "target_inputs", "channel_independent", "segment_length",
    ];

    public static GruConfig Parse(string json, ModelLimits limits)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json, new JsonDocumentOptions { MaxDepth = 32 });
        }
        catch (JsonException e)
        {
            throw new ModelFileException($"config is not valid JSON: {e.Message}");
        }
        using (document)
        {
            JsonElement root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new ModelFileException("config is not a JSON object.");
            JsonText.CheckStrings(root, "config");
            // JsonDocument keeps duplicate keys and TryGetProperty answers with one of them; refuse rather than guess.
            var keys = new HashSet<string>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
                if (!keys.Add(property.Name))
                    throw new ModelFileException($"config.{property.Name} appears twice.");

            string format = RequiredString(root, "format");
            if (format != GruConfig.FormatV1)
                throw new ModelFileException($"config.format is '{format}'; expected '{GruConfig.FormatV1}'.");
            string taskName = RequiredString(root, "task");
            GruTask task = GruTaskNames.Parse(taskName)
                ?? throw new ModelFileException($"config.task is '{taskName}'; expected 'forecast' or 'classify'.");
            int inputSize = RequiredInt(root, "input_size", 1, limits.MaxInputSize);
            int hiddenSize = RequiredInt(root, "hidden_size", 1, limits.MaxHiddenSize);
            int numLayers = RequiredInt(root, "num_layers", 1, limits.MaxLayers);
            bool bidirectional = OptionalBool(root, "bidirectional", false);
            bool linearBeforeReset = OptionalBool(root, "linear_before_reset", true);

            int horizon = 0, outputSize = 0;
            float[]? targetMean = null, targetStd = null;
            IReadOnlyList<string> classes = [];
            if (task == GruTask.Forecast)
            {
                horizon = RequiredInt(root, "horizon", 1, limits.MaxHorizon);
                outputSize = RequiredInt(root, "output_size", 1, limits.MaxOutputSize);
                if ((long)horizon * outputSize > limits.MaxOutputSize)
                    throw new ModelFileException($"config.horizon × config.output_size is {(long)horizon * outputSize}; the limit is {limits.MaxOutputSize}.");
                (targetMean, targetStd) = Statistics(root, "target_mean", "target_std", outputSize, "output_size");
            }
            else
            {
                classes = Classes(root, limits.MaxClasses);
            }
            (float[]? inputMean, float[]? inputStd) = Statistics(root, "input_mean", "input_std", inputSize, "input_size");

            WindowNormalization windowNormalization = OptionalString(root, "window_normalization", "none") switch
            {
                "none" => WindowNormalization.None,
                "mean" => WindowNormalization.Mean,
                "last" => WindowNormalization.Last,
                var other => throw new ModelFileException($"config.window_normalization is '{other}'; expected 'none', 'mean' or 'last'."),
            };
            int[]? targetInputs = OptionalIntArray(root, "target_inputs");
            bool channelIndependent = OptionalBool(root, "channel_independent", false);
            int segmentLength = root.TryGetProperty("segment_length", out _) ? RequiredInt(root, "segment_length", 1, limits.MaxInputSize) : 1;
            long gruInputWidth = (long)(channelIndependent ? 1 : inputSize) * segmentLength;
            if (gruInputWidth > limits.MaxInputSize)
                throw new ModelFileException($"The GRU reads {gruInputWidth} values per step (input_size × segment_length); the limit is {limits.MaxInputSize}.");

            var extra = new Dictionary<string, JsonElement>(StringComparer.Ordinal);
            foreach (JsonProperty property in root.EnumerateObject())
                if (!KnownKeys.Contains(property.Name))
                    extra[property.Name] = property.Value.Clone();

            var config = new GruConfig
            {
                Task = task,
                InputSize = inputSize,
                HiddenSize = hiddenSize,
                NumLayers = numLayers,
                Bidirectional = bidirectional,
                LinearBeforeReset = linearBeforeReset,
                Horizon = horizon,
                OutputSize = outputSize,
                Classes = classes,
                InputMean = inputMean,
                InputStd = inputStd,
                TargetMean = targetMean,
                TargetStd = targetStd,
                WindowNormalization = windowNormalization,
                TargetInputs = targetInputs,
                ChannelIndependent = channelIndependent,
                SegmentLength = segmentLength,
                Extra = extra,
            };
            if (config.ExtensionProblem() is { } problem)
                throw new ModelFileException(problem);
            return config;
        }
    }

    public static string Write(GruConfig config)
    {
        var o = new JsonObject
        {
            ["format"] = GruConfig.FormatV1,
            ["task"] = GruTaskNames.NameOf(config.Task),
            ["input_size"] = config.InputSize,
            ["hidden_size"] = config.HiddenSize,
            ["num_layers"] = config.NumLayers,
            ["bidirectional"] = config.Bidirectional,
            ["linear_before_reset"] = config.LinearBeforeReset,
        };
        if (config.Task == GruTask.Forecast)
        {
            o["horizon"] = config.Horizon;
            o["output_size"] = config.OutputSize;
            if (config.TargetMean is not null && config.TargetStd is not null)
            {
                o["target_mean"] = ToArray(config.TargetMean);
                o["target_std"] = ToArray(config.TargetStd);
            }
        }
        else
        {
            o["classes"] = new JsonArray([.. config.Classes.Select(c => (JsonNode?)JsonValue.Create(c))]);
        }
        if (config.InputMean is not null && config.InputStd is not null)
        {
            o["input_mean"] = ToArray(config.InputMean);
            o["input_std"] = ToArray(config.InputStd);
        }
        // Extensions only when used, so a plain model's config reads exactly as before they existed.
        if (config.WindowNormalization != WindowNormalization.None)
            o["window_normalization"] = config.WindowNormalization == WindowNormalization.Mean ? "mean" : "last";
        if (config.TargetInputs is not null)
            o["target_inputs"] = new JsonArray([.. config.TargetInputs.Select(i => (JsonNode?)JsonValue.Create(i))]);
        if (config.ChannelIndependent)
            o["channel_independent"] = true;
        if (config.SegmentLength != 1)
            o["segment_length"] = config.SegmentLength;
        foreach (var (key, value) in config.Extra)
            if (!KnownKeys.Contains(key))
                o[key] = JsonNode.Parse(value.GetRawText());
        return o.ToJsonString();
    }

    private static JsonArray ToArray(float[] values) => new([.. values.Select(v => (JsonNode?)JsonValue.Create(v))]);

    private static string RequiredString(JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out JsonElement value))
            throw new ModelFileException($"config.{key} is missing.");
        if (value.ValueKind != JsonValueKind.String)
            throw new ModelFileException($"config.{key} is not a string.");
        return value.GetString()!;
    }

    private static int RequiredInt(JsonElement root, string key, int min, int max)
    {
        if (!root.TryGetProperty(key, out JsonElement value))
            throw new ModelFileException($"config.{key} is missing.");
        if (value.ValueKind != JsonValueKind.Number || !value.TryGetInt64(out long number))
            throw new ModelFileException($"config.{key} is not an integer.");
        if (number < min || number > max)
            throw new ModelFileException($"config.{key} is {number}; it must be between {min} and {max}.");
        return (int)number;
    }

    private static string OptionalString(JsonElement root, string key, string fallback) =>
        root.TryGetProperty(key, out _) ? RequiredString(root, key) : fallback;

    private static int[]? OptionalIntArray(JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out JsonElement value)) return null;
        if (value.ValueKind != JsonValueKind.Array)
            throw new ModelFileException($"config.{key} is not an array of integers.");
        var result = new int[value.GetArrayLength()];
        int i = 0;
        foreach (JsonElement item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt32(out result[i]))
                throw new ModelFileException($"config.{key}[{i}] is not an integer.");
            i++;
        }
        return result;
    }

    private static bool OptionalBool(JsonElement root, string key, bool fallback)
    {
        if (!root.TryGetProperty(key, out JsonElement value)) return fallback;
        return value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False => false,
            _ => throw new ModelFileException($"config.{key} is not true or false."),
        };
    }

    private static IReadOnlyList<string> Classes(JsonElement root, int max)
    {
        if (!root.TryGetProperty("classes", out JsonElement value))
            throw new ModelFileException("config.classes is missing; a classify model needs its class labels.");
        if (value.ValueKind != JsonValueKind.Array)
            throw new ModelFileException("config.classes is not an array of strings.");
        int count = value.GetArrayLength();
        if (count < 2 || count > max)
            throw new ModelFileException($"config.classes has {count} label{(count == 1 ? "" : "s")}; it must have between 2 and {max}.");
        var labels = new List<string>(count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (JsonElement item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.String || item.GetString() is not { Length: > 0 } label)
                throw new ModelFileException($"config.classes[{labels.Count}] is not a non-empty string.");
            if (!seen.Add(label))
                throw new ModelFileException($"config.classes has '{label}' twice.");
            labels.Add(label);
        }
        return labels;
    }

    private static (float[]? Mean, float[]? Std) Statistics(JsonElement root, string meanKey, string stdKey, int length, string lengthKey)
    {
        bool hasMean = root.TryGetProperty(meanKey, out JsonElement mean);
        bool hasStd = root.TryGetProperty(stdKey, out JsonElement std);
        if (!hasMean && !hasStd) return (null, null);
        if (hasMean != hasStd)
            throw new ModelFileException($"config has {(hasMean ? meanKey : stdKey)} without {(hasMean ? stdKey : meanKey)}; give both or neither.");
        float[] means = FloatArray(mean, meanKey, length, lengthKey);
        float[] stds = FloatArray(std, stdKey, length, lengthKey);
        for (int i = 0; i < stds.Length; i++)
            if (!(stds[i] > 0))
                throw new ModelFileException($"config.{stdKey}[{i}] is {stds[i]}; a standard deviation must be positive.");
        return (means, stds);
    }

    private static float[] FloatArray(JsonElement value, string key, int length, string lengthKey)
    {
        if (value.ValueKind != JsonValueKind.Array)
            throw new ModelFileException($"config.{key} is not an array of numbers.");
        if (value.GetArrayLength() != length)
            throw new ModelFileException($"config.{key} has {value.GetArrayLength()} values; {lengthKey} is {length}.");
        var result = new float[length];
        int i = 0;
        foreach (JsonElement item in value.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetDouble(out double d) || !float.IsFinite((float)d))
                throw new ModelFileException($"config.{key}[{i}] is not a finite float32 number.");
            result[i++] = (float)d;
        }
        return result;
    }
}
