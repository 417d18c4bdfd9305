using System.Text.Json;
using GruService.Engine.Training.Data;
using GruService.Engine.Training.Metrics;

namespace GruService.Engine.Training;

/// <summary>Which examples a batch is drawn from.</summary>
public enum DataPart
{
    Train,
    Validation,
    Test,
}

/// <summary>The GRU layers to train; the task-specific parts of the config come from the data.</summary>
public sealed record GruArchitecture(
    int HiddenSize = 64,
    int NumLayers = 1,
    bool Bidirectional = false,
    bool LinearBeforeReset = true,
    double Dropout = 0);

/// <summary>Quality of a model on one data part, in the data's original units.</summary>
public sealed record EvaluationResult(
    string Part,
    long Examples,
    double Loss,
    double? Mse = null,
    double? Mae = null,
    double? Mase = null,
    double? Accuracy = null,
    double? MacroF1 = null,
    IReadOnlyList<string>? Classes = null,
    long[][]? ConfusionMatrix = null);

/// <summary>
/// What the trainer needs from a task: how many examples each part has, how to fill a batch of them (normalised, with
/// targets), how to evaluate predictions, and the config a trained model gets (sizes, labels, normalisation statistics).
/// </summary>
public abstract class TrainingProblem
{
    public abstract GruTask Task { get; }
    public abstract int InputSize { get; }

    /// <summary>Head outputs per example: horizon × output size, or the number of classes.</summary>
    public abstract int Outputs { get; }

    public abstract int Count(DataPart part);

    /// <summary>Time steps of the examples at these positions of a part (sizes the input buffer).</summary>
    public abstract int TotalSteps(DataPart part, ReadOnlySpan<int> positions);

    /// <summary>Fills inputs (back to back), lengths and targets for the examples at these positions of a part.</summary>
    internal abstract void Fill(DataPart part, ReadOnlySpan<int> positions, BatchBuffers buffers);

    internal abstract TrainingTargets<float> Targets(BatchBuffers buffers, int count);

    /// <summary>Adds one batch's head outputs to an evaluation in progress.</summary>
    internal abstract void Accumulate(object evaluation, ReadOnlySpan<float> outputs, BatchBuffers buffers, ReadOnlySpan<int> positions, DataPart part);

    internal abstract object BeginEvaluation();

    internal abstract EvaluationResult EndEvaluation(object evaluation, DataPart part, long examples, double loss);

    /// <summary>The config of a model trained on this problem with this architecture.</summary>
    public abstract GruConfig CreateConfig(GruArchitecture architecture, IReadOnlyDictionary<string, JsonElement> metadata);
}

/// <summary>Reusable buffers for one batch or shard.</summary>
internal sealed class BatchBuffers
{
    public float[] Inputs = [];
    public int[] Lengths = [];
    public float[] Targets = [];
    public float[] Offsets = [];
    public int[] Labels = [];

    public void Ensure(int inputs, int sequences, int targets, int offsets)
    {
        if (Inputs.Length < inputs) Inputs = new float[inputs];
        if (Lengths.Length < sequences) Lengths = new int[sequences];
        if (Labels.Length < sequences) Labels = new int[sequences];
        if (Targets.Length < targets) Targets = new float[targets];
        if (Offsets.Length < offsets) Offsets = new float[offsets];
    }
}

/// <summary>Forecasting windows: inputs [window, inputs], targets [horizon, targets], losses in standardised units.</summary>
public sealed class ForecastProblem(ForecastWindows windows, ForecastLoss loss = ForecastLoss.MeanSquaredError, int seasonLength = 1) : TrainingProblem
{
    private readonly double[] _maseScales = windows.SeasonalNaiveScales(seasonLength, originalUnits: true);

    public ForecastWindows Windows { get; } = windows;
    public ForecastLoss Loss { get; } = loss;
    public int SeasonLength { get; } = seasonLength;
    public override GruTask Task => GruTask.Forecast;
    public override int InputSize => Windows.InputSize;
    public override int Outputs => Windows.Horizon * Windows.OutputSize;

    private ForecastWindowSet Part(DataPart part) => part switch
    {
        DataPart.Train => Windows.Train,
        DataPart.Validation => Windows.Validation,
        _ => Windows.Test,
    };

    public override int Count(DataPart part) => Part(part).Count;

    public override int TotalSteps(DataPart part, ReadOnlySpan<int> positions) => positions.Length * Windows.Window;

    internal override void Fill(DataPart part, ReadOnlySpan<int> positions, BatchBuffers buffers)
    {
        int b = positions.Length;
        buffers.Ensure(b * Windows.Window * InputSize, b, b * Outputs, b * Windows.OutputSize);
        Windows.Fill(Part(part), positions, buffers.Inputs.AsSpan(0, b * Windows.Window * InputSize),
            buffers.Targets.AsSpan(0, b * Outputs), buffers.Offsets.AsSpan(0, b * Windows.OutputSize));
        buffers.Lengths.AsSpan(0, b).Fill(Windows.Window);
    }

    internal override TrainingTargets<float> Targets(BatchBuffers buffers, int count) =>
        TrainingTargets<float>.Forecast(buffers.Targets.AsMemory(0, count * Outputs), Loss);

    internal override object BeginEvaluation() => new ForecastMetrics(Windows.OutputSize, _maseScales);

    internal override void Accumulate(object evaluation, ReadOnlySpan<float> outputs, BatchBuffers buffers, ReadOnlySpan<int> positions, DataPart part)
    {
        var metrics = (ForecastMetrics)evaluation;
        int b = positions.Length;
        float[] predicted = outputs[..(b * Outputs)].ToArray();
        float[] actual = buffers.Targets.AsSpan(0, b * Outputs).ToArray();
        ReadOnlySpan<float> offsets = buffers.Offsets.AsSpan(0, b * Windows.OutputSize);
        Windows.ToOriginalUnits(predicted, offsets);
        Windows.ToOriginalUnits(actual, offsets);
        ForecastWindowSet set = Part(part);
        for (int i = 0; i < b; i++)
            metrics.Add(predicted.AsSpan(i * Outputs, Outputs), actual.AsSpan(i * Outputs, Outputs), set[positions[i]].Series);
    }

    internal override EvaluationResult EndEvaluation(object evaluation, DataPart part, long examples, double loss)
    {
        var metrics = (ForecastMetrics)evaluation;
        return new EvaluationResult(part.ToString().ToLowerInvariant(), examples, loss,
            Mse: metrics.Count > 0 ? metrics.Mse : null, Mae: metrics.Count > 0 ? metrics.Mae : null, Mase: metrics.Mase);
    }

    public override GruConfig CreateConfig(GruArchitecture architecture, IReadOnlyDictionary<string, JsonElement> metadata) => new()
    {
        Task = GruTask.Forecast,
        InputSize = InputSize,
        HiddenSize = architecture.HiddenSize,
        NumLayers = architecture.NumLayers,
        Bidirectional = architecture.Bidirectional,
        LinearBeforeReset = architecture.LinearBeforeReset,
        Horizon = Windows.Horizon,
        OutputSize = Windows.OutputSize,
        InputMean = Windows.InputMean,
        InputStd = Windows.InputStd,
        TargetMean = Windows.TargetMean,
        TargetStd = Windows.TargetStd,
        Extra = metadata,
    };
}

/// <summary>Labelled sequences of any length; softmax cross-entropy, optionally class-weighted.</summary>
public sealed class ClassificationProblem(SequenceSplit split, float[]? classWeights = null) : TrainingProblem
{
    public SequenceSplit Split { get; } = split;
    public float[]? ClassWeights { get; } = classWeights;
    public override GruTask Task => GruTask.Classify;
    public override int InputSize => Split.Data.FeatureCount;
    public override int Outputs => Split.Data.Classes.Count;

    private IReadOnlyList<int> Part(DataPart part) => part == DataPart.Train ? Split.Train : Split.Validation;

    public override int Count(DataPart part) => part == DataPart.Test ? 0 : Part(part).Count;

    public override int TotalSteps(DataPart part, ReadOnlySpan<int> positions) => Split.TotalSteps(Part(part), positions);

    internal override void Fill(DataPart part, ReadOnlySpan<int> positions, BatchBuffers buffers)
    {
        int b = positions.Length, steps = TotalSteps(part, positions);
        buffers.Ensure(steps * InputSize, b, 0, 0);
        Split.Fill(Part(part), positions, buffers.Inputs.AsSpan(0, steps * InputSize), buffers.Lengths.AsSpan(0, b), buffers.Labels.AsSpan(0, b));
    }

    internal override TrainingTargets<float> Targets(BatchBuffers buffers, int count) =>
        TrainingTargets<float>.Classify(buffers.Labels.AsMemory(0, count), ClassWeights);

    internal override object BeginEvaluation() => new ClassificationMetrics(Split.Data.Classes);

    internal override void Accumulate(object evaluation, ReadOnlySpan<float> outputs, BatchBuffers buffers, ReadOnlySpan<int> positions, DataPart part) =>
        ((ClassificationMetrics)evaluation).AddScores(outputs[..(positions.Length * Outputs)], buffers.Labels.AsSpan(0, positions.Length));

    internal override EvaluationResult EndEvaluation(object evaluation, DataPart part, long examples, double loss)
    {
        var metrics = (ClassificationMetrics)evaluation;
        return new EvaluationResult(part.ToString().ToLowerInvariant(), examples, loss,
            Accuracy: metrics.Count > 0 ? metrics.Accuracy : null, MacroF1: metrics.Count > 0 ? metrics.MacroF1 : null,
            Classes: metrics.Classes, ConfusionMatrix: metrics.ConfusionMatrix());
    }

    public override GruConfig CreateConfig(GruArchitecture architecture, IReadOnlyDictionary<string, JsonElement> metadata) => new()
    {
        Task = GruTask.Classify,
        InputSize = InputSize,
        HiddenSize = architecture.HiddenSize,
        NumLayers = architecture.NumLayers,
        Bidirectional = architecture.Bidirectional,
        LinearBeforeReset = architecture.LinearBeforeReset,
        Classes = Split.Data.Classes,
        InputMean = Split.InputMean,
        InputStd = Split.InputStd,
        Extra = metadata,
    };
}
