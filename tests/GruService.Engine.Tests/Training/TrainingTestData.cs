using GruService.Engine.Training;

namespace GruService.Engine.Tests.Training;

/// <summary>Small random models, batches and targets for the training tests.</summary>
internal static class TrainingTestData
{
    public static GruConfig Config(GruTask task, bool linearBeforeReset = true, int layers = 1, bool bidirectional = false,
        int inputSize = 3, int hiddenSize = 4, int horizon = 2, int outputSize = 2, int classes = 3) => new()
    {
        Task = task,
        InputSize = inputSize,
        HiddenSize = hiddenSize,
        NumLayers = layers,
        Bidirectional = bidirectional,
        LinearBeforeReset = linearBeforeReset,
        Horizon = task == GruTask.Forecast ? horizon : 0,
        OutputSize = task == GruTask.Forecast ? outputSize : 0,
        Classes = task == GruTask.Classify ? [.. Enumerable.Range(0, classes).Select(c => $"class_{c}")] : [],
    };

    public static GruParameters<T> Parameters<T>(GruConfig config, int seed) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var parameters = new GruParameters<T>(config);
        parameters.InitializeLikePyTorch(new Random(seed));
        return parameters;
    }

    public static double[] Inputs(GruConfig config, int[] lengths, int seed)
    {
        var random = new Random(seed);
        var inputs = new double[lengths.Sum() * config.InputSize];
        for (int i = 0; i < inputs.Length; i++) inputs[i] = 2 * random.NextDouble() - 1;
        return inputs;
    }

    public static float[] ToFloat(double[] values) => [.. values.Select(v => (float)v)];

    /// <summary>Forecast targets U(−1, 1) around nothing in particular: for losses with no kink.</summary>
    public static double[] RandomTargets(GruConfig config, int sequences, int seed)
    {
        var random = new Random(seed);
        var targets = new double[sequences * config.HeadOutputs];
        for (int i = 0; i < targets.Length; i++) targets[i] = 2 * random.NextDouble() - 1;
        return targets;
    }

    /// <summary>
    /// Targets at the given distances from <paramref name="predictions"/>, with random signs: lets a test keep every
    /// error away from a loss's kinks (0 for MAE, ±δ for Huber).
    /// </summary>
    public static double[] TargetsAtDistances(ReadOnlySpan<double> predictions, double[] distances, int seed)
    {
        var random = new Random(seed);
        var targets = new double[predictions.Length];
        for (int i = 0; i < targets.Length; i++)
            targets[i] = predictions[i] + (random.Next(2) == 0 ? -1 : 1) * distances[i % distances.Length];
        return targets;
    }

    public static int[] Labels(GruConfig config, int sequences, int seed)
    {
        var random = new Random(seed);
        return [.. Enumerable.Range(0, sequences).Select(_ => random.Next(config.HeadOutputs))];
    }
}
