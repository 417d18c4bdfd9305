using System.Buffers;
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

/// <summary>
/// Forecasting windows: inputs [window, inputs], targets [horizon, targets], losses in standardised units.
/// </summary>
/// <remarks>
/// With a <see cref="ForecastInputLayout"/> the examples are what the GRU reads. Segments need nothing but a view: a
/// window's time-major values are its window / segment rows of segment × inputs. Channel-independent, example
/// k · C + c of a part (C input columns) is column c of window k: a univariate sequence whose targets are that
/// column's and whose offset is that column's, so the trainer's batches, loss and gradient are over (window, column)
/// pairs, as the channel-independent models of the literature train.
/// </remarks>
public sealed class ForecastProblem : TrainingProblem
{
    private readonly double[] _maseScales;
    private readonly int _channels, _stepsPerWindow;
    private readonly float[] _targetMean, _targetStd; // 0 and 1 without standardisation, as ToOriginalUnits uses them

    /// <exception cref="ArgumentException">The layout does not fit the windows: a segment length that does not divide
    /// the window, or channel independence with targets other than the inputs in input order.</exception>
    public ForecastProblem(ForecastWindows windows, ForecastLoss loss = ForecastLoss.MeanSquaredError, int seasonLength = 1,
        ForecastInputLayout? layout = null)
    {
        layout ??= new ForecastInputLayout();
        if (layout.SegmentLength < 1 || windows.Window % layout.SegmentLength != 0)
            throw new ArgumentException($"The segment length {layout.SegmentLength} must be at least 1 and divide the window ({windows.Window}).", nameof(layout));
        if (layout.ColumnsProblem(windows.InputColumns, windows.TargetColumns) is { } columnsProblem)
            throw new ArgumentException(columnsProblem, nameof(layout));
        Windows = windows;
        Loss = loss;
        SeasonLength = seasonLength;
        Layout = layout;
        _maseScales = windows.SeasonalNaiveScales(seasonLength, originalUnits: true);
        _channels = layout.ChannelIndependent ? windows.InputSize : 1;
        _stepsPerWindow = windows.Window / layout.SegmentLength;
        _targetMean = windows.TargetMean ?? new float[windows.OutputSize];
        _targetStd = windows.TargetStd ?? [.. Enumerable.Repeat(1f, windows.OutputSize)];
    }

    public ForecastWindows Windows { get; }
    public ForecastLoss Loss { get; }
    public int SeasonLength { get; }
    public ForecastInputLayout Layout { get; }
    public override GruTask Task => GruTask.Forecast;

    /// <summary>Values per step the GRU reads: the input columns (one when channel-independent) times the segment length.</summary>
    public override int InputSize => (Layout.ChannelIndependent ? 1 : Windows.InputSize) * Layout.SegmentLength;

    /// <summary>Head outputs per example: horizon × target columns, or horizon when channel-independent.</summary>
    public override int Outputs => Windows.Horizon * (Layout.ChannelIndependent ? 1 : Windows.OutputSize);

    private ForecastWindowSet Part(DataPart part) => part switch
    {
        DataPart.Train => Windows.Train,
        DataPart.Validation => Windows.Validation,
        _ => Windows.Test,
    };

    /// <summary>Windows of a part, times the input columns when channel-independent.</summary>
    public override int Count(DataPart part) => Part(part).Count * _channels;

    public override int TotalSteps(DataPart part, ReadOnlySpan<int> positions) => positions.Length * _stepsPerWindow;

    internal override void Fill(DataPart part, ReadOnlySpan<int> positions, BatchBuffers buffers)
    {
        int b = positions.Length, offsetsPerExample = Layout.ChannelIndependent ? 1 : Windows.OutputSize;
        buffers.Ensure(b * _stepsPerWindow * InputSize, b, b * Outputs, b * offsetsPerExample);
        buffers.Lengths.AsSpan(0, b).Fill(_stepsPerWindow);
        if (!Layout.ChannelIndependent)
        {
            Windows.Fill(Part(part), positions, buffers.Inputs.AsSpan(0, b * Windows.Window * Windows.InputSize),
                buffers.Targets.AsSpan(0, b * Outputs), buffers.Offsets.AsSpan(0, b * Windows.OutputSize));
            return;
        }

        int window = Windows.Window, horizon = Windows.Horizon, columns = Windows.InputSize;
        var pool = ArrayPool<float>.Shared;
        float[] inputs = pool.Rent(window * columns), targets = pool.Rent(horizon * columns), offsets = pool.Rent(columns);
        try
        {
            int filled = -1;
            for (int e = 0; e < b; e++)
            {
                int index = positions[e] / columns, c = positions[e] % columns;
                if (index != filled) // consecutive examples are often the columns of one window
                {
                    Windows.Fill(Part(part), new ReadOnlySpan<int>(in index), inputs.AsSpan(0, window * columns),
                        targets.AsSpan(0, horizon * columns), offsets.AsSpan(0, columns));
                    filled = index;
                }
                Span<float> input = buffers.Inputs.AsSpan(e * window, window), target = buffers.Targets.AsSpan(e * horizon, horizon);
                for (int t = 0; t < window; t++) input[t] = inputs[t * columns + c];
                for (int h = 0; h < horizon; h++) target[h] = targets[h * columns + c];
                buffers.Offsets[e] = offsets[c];
            }
        }
        finally
        {
            pool.Return(inputs);
            pool.Return(targets);
            pool.Return(offsets);
        }
    }

    internal override TrainingTargets<float> Targets(BatchBuffers buffers, int count) =>
        TrainingTargets<float>.Forecast(buffers.Targets.AsMemory(0, count * Outputs), Loss);

    // Channel-independent examples hold one column, so their metrics have one column and series × columns scales.
    internal override object BeginEvaluation() => new ForecastMetrics(Layout.ChannelIndependent ? 1 : Windows.OutputSize, _maseScales);

    internal override void Accumulate(object evaluation, ReadOnlySpan<float> outputs, BatchBuffers buffers, ReadOnlySpan<int> positions, DataPart part)
    {
        var metrics = (ForecastMetrics)evaluation;
        int b = positions.Length;
        float[] predicted = outputs[..(b * Outputs)].ToArray();
        float[] actual = buffers.Targets.AsSpan(0, b * Outputs).ToArray();
        ForecastWindowSet set = Part(part);
        if (!Layout.ChannelIndependent)
        {
            ReadOnlySpan<float> offsets = buffers.Offsets.AsSpan(0, b * Windows.OutputSize);
            Windows.ToOriginalUnits(predicted, offsets);
            Windows.ToOriginalUnits(actual, offsets);
            for (int i = 0; i < b; i++)
                metrics.Add(predicted.AsSpan(i * Outputs, Outputs), actual.AsSpan(i * Outputs, Outputs), set[positions[i]].Series);
            return;
        }

        bool offset = Windows.Normalizer.Mode != WindowNormalization.None;
        for (int i = 0; i < b; i++)
        {
            int c = positions[i] % _channels;
            Span<float> forecast = predicted.AsSpan(i * Outputs, Outputs), truth = actual.AsSpan(i * Outputs, Outputs);
            // The float operations of ForecastWindows.ToOriginalUnits, for one column.
            for (int h = 0; h < Outputs; h++)
            {
                float y = offset ? forecast[h] + buffers.Offsets[i] : forecast[h], t = offset ? truth[h] + buffers.Offsets[i] : truth[h];
                forecast[h] = MathF.FusedMultiplyAdd(y, _targetStd[c], _targetMean[c]);
                truth[h] = MathF.FusedMultiplyAdd(t, _targetStd[c], _targetMean[c]);
            }
            metrics.Add(forecast, truth, set[positions[i] / _channels].Series * _channels + c);
        }
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
        InputSize = Windows.InputSize,
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
        WindowNormalization = Windows.Normalizer.Mode,
        TargetInputs = Windows.Normalizer.Mode == WindowNormalization.None ? null : [.. Windows.Normalizer.TargetInputIndex],
        ChannelIndependent = Layout.ChannelIndependent,
        SegmentLength = Layout.SegmentLength,
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
