using System.Globalization;
using System.Text;
using GruService.Engine;
using GruService.Engine.ModelFiles;
using GruService.Engine.Training.Data;

namespace GruService.Fuzz;

/// <summary>A valid model file the mutations start from, with the model parsed from it.</summary>
public sealed record SeedModel(string Source, byte[] File, GruModel Model)
{
    public GruConfig Config => Model.Config;
    public string TaskPath => Config.Task == GruTask.Forecast ? "forecast" : "classify";
}

/// <summary>The valid inputs every mutation starts from: model files and request bodies.</summary>
public static class Seeds
{
    /// <summary>The bundled model files (models/*.safetensors, as the build copies them beside the service).</summary>
    public static IReadOnlyList<SeedModel> BundledModels(string directory, ModelLimits limits) =>
        [.. Directory.GetFiles(directory, "*.safetensors").Order(StringComparer.Ordinal).Select(path =>
        {
            byte[] file = File.ReadAllBytes(path);
            return new SeedModel(Path.GetFileNameWithoutExtension(path), file, ModelFile.Read(file, limits));
        })];

    /// <summary>
    /// Small valid models written by ModelFile.Write: both tasks, 1 or 2 layers, one or two directions, both GRU
    /// variants, with and without normalisation statistics, and the forecast extensions (segments, channel
    /// independence, window normalisation), so mutations start from every shape of config the parser accepts.
    /// </summary>
    public static IReadOnlyList<SeedModel> RandomModels(Random random, int count, ModelLimits limits)
    {
        var models = new List<SeedModel>();
        for (int k = 0; k < count; k++)
        {
            GruConfig config = RandomConfig(random, k);
            var directions = new List<GruDirectionWeights>();
            IReadOnlyDictionary<string, long[]> shapes = ModelFile.ExpectedShapes(config);
            for (int layer = 0; layer < config.NumLayers; layer++)
                for (int d = 0; d < config.Directions; d++)
                {
                    string suffix = $"_l{layer}" + (d == 1 ? "_reverse" : "");
                    directions.Add(new GruDirectionWeights(config.LayerInputSize(layer), config.HiddenSize,
                        Weights(random, shapes[$"gru.weight_ih{suffix}"]), Weights(random, shapes[$"gru.weight_hh{suffix}"]),
                        Weights(random, shapes[$"gru.bias_ih{suffix}"]), Weights(random, shapes[$"gru.bias_hh{suffix}"])));
                }
            var model = new GruModel(config, directions, Weights(random, shapes["head.weight"]), Weights(random, shapes["head.bias"]));
            var extra = new Dictionary<string, string> { ["description"] = $"fuzz seed {k}" };
            byte[] file = ModelFile.Write(model, extra);
            // Round-tripped through the parser so the model is exactly what the service will see.
            models.Add(new SeedModel($"random-{k}", file, ModelFile.Read(file, limits)));
        }
        return models;
    }

    /// <summary>A valid forecast or classify body for a model with this config: 1 to 3 sequences of fitting length.</summary>
    public static string ValidRequest(Random random, GruConfig config)
    {
        var json = new StringBuilder("{\"inputs\":[");
        int sequences = random.Next(1, 4);
        for (int s = 0; s < sequences; s++)
        {
            if (s > 0) json.Append(',');
            json.Append('[');
            int steps = config.SegmentLength * random.Next(1, 6);
            bool bare = config.InputSize == 1 && random.Next(2) == 0;
            for (int t = 0; t < steps; t++)
            {
                if (t > 0) json.Append(',');
                if (bare)
                {
                    json.Append(Number(random));
                    continue;
                }
                json.Append('[');
                for (int f = 0; f < config.InputSize; f++)
                    json.Append(f > 0 ? "," : "").Append(Number(random));
                json.Append(']');
            }
            json.Append(']');
        }
        return json.Append("]}").ToString();
    }

    /// <summary>Training-job bodies that pass validation: inline forecast series and inline labelled sequences, one epoch, tiny.</summary>
    public static IReadOnlyList<string> TrainingRequests { get; } =
    [
        """{"model":"fuzz-trained-forecast","task":"forecast","data":{"series":[[1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20]],"columns":["y"]},"window":4,"horizon":2,"stride":1,"validation_split":0.2,"architecture":{"hidden_size":2,"num_layers":1},"hyperparameters":{"epochs":1,"batch_size":4,"learning_rate":0.01,"optimizer":"adam","patience":0,"seed":7},"activate":false}""",
        """{"model":"fuzz-trained-forecast","task":"forecast","data":{"series":[[[1,0.5],[2,0.4],[3,0.3],[4,0.2],[5,0.1],[6,0],[7,0.1],[8,0.2],[9,0.3],[10,0.4],[11,0.5],[12,0.6]]],"columns":["a","b"]},"window":4,"horizon":1,"targets":["a"],"architecture":{"hidden_size":2,"segment_length":2},"hyperparameters":{"epochs":1,"batch_size":2,"loss":"huber","window_normalization":"last"},"activate":false}""",
        """{"model":"fuzz-trained-classify","task":"classify","data":{"inputs":[[[0.1],[0.2]],[[0.3],[0.1]],[[0.9],[0.8]],[[0.7],[0.9]]],"labels":["low","low","high","high"]},"validation_split":0.5,"architecture":{"hidden_size":2,"bidirectional":true},"hyperparameters":{"epochs":1,"batch_size":2,"class_weights":{"low":1,"high":2}},"activate":false}""",
    ];

    private static string Number(Random random) =>
        Math.Round(random.NextDouble() * 6 - 3, random.Next(1, 6)).ToString("R", CultureInfo.InvariantCulture);

    private static float[] Weights(Random random, long[] shape)
    {
        var values = new float[shape.Aggregate(1L, (a, b) => a * b)];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() - 0.5);
        return values;
    }

    private static float[] Filled(Random random, int length, double low, double high) =>
        [.. Enumerable.Range(0, length).Select(_ => (float)(low + random.NextDouble() * (high - low)))];

    private static GruConfig RandomConfig(Random random, int index)
    {
        bool forecast = index % 2 == 0;
        int inputSize = random.Next(1, 5), hiddenSize = random.Next(1, 9);
        var config = new GruConfig
        {
            Task = forecast ? GruTask.Forecast : GruTask.Classify,
            InputSize = inputSize,
            HiddenSize = hiddenSize,
            NumLayers = random.Next(1, 3),
            Bidirectional = random.Next(2) == 0,
            LinearBeforeReset = random.Next(3) != 0,
        };
        if (!forecast)
        {
            config = config with { Classes = [.. Enumerable.Range(0, random.Next(2, 5)).Select(c => $"class-{c}")] };
            if (random.Next(2) == 0)
                config = config with { InputMean = Filled(random, inputSize, -1, 1), InputStd = Filled(random, inputSize, 0.5, 2) };
            return config;
        }
        int outputSize = random.Next(1, 3);
        config = config with { Horizon = random.Next(1, 4), OutputSize = outputSize };
        switch (index / 2 % 4)
        {
            case 1:
                config = config with { SegmentLength = 2 };
                break;
            case 2:
                config = config with { ChannelIndependent = true, OutputSize = inputSize };
                break;
            case 3:
                config = config with
                {
                    WindowNormalization = WindowNormalization.Last,
                    TargetInputs = [.. Enumerable.Range(0, outputSize).Select(j => j % inputSize)],
                };
                break;
        }
        if (config.WindowNormalization == WindowNormalization.None && random.Next(2) == 0)
            config = config with
            {
                InputMean = Filled(random, inputSize, -1, 1),
                InputStd = Filled(random, inputSize, 0.5, 2),
                TargetMean = Filled(random, config.OutputSize, -1, 1),
                TargetStd = Filled(random, config.OutputSize, 0.5, 2),
            };
        return config.ExtensionProblem() is null ? config : config with { SegmentLength = 1, ChannelIndependent = false, WindowNormalization = WindowNormalization.None, TargetInputs = null };
    }
}
