using System.Buffers;
using GruService.Engine.Training.Metrics;

namespace GruService.Engine.Training.Data;

/// <summary>What a forecasting sample is and how the series divide into training, validation and test samples.</summary>
public sealed record ForecastWindowOptions
{
    /// <summary>Input steps the model reads (the lookback L).</summary>
    public required int Window { get; init; }

    /// <summary>Future steps it predicts (H).</summary>
    public required int Horizon { get; init; }

    /// <summary>Rows between the starts of consecutive windows of a series.</summary>
    public int Stride { get; init; } = 1;

    /// <summary>Columns the model reads, in this order; null for every column in storage order.</summary>
    public IReadOnlyList<string>? InputColumns { get; init; }

    /// <summary>Columns the model predicts, in this order; null for every column in storage order.</summary>
    public IReadOnlyList<string>? TargetColumns { get; init; }

    public required ForecastSplit Split { get; init; }

    /// <summary>Standardise every column with the mean and standard deviation of the training rows.</summary>
    public bool Standardize { get; init; } = true;

    /// <summary>Per-window normalisation on top of the standardisation; anything but None needs every target among the inputs.</summary>
    public WindowNormalization WindowNormalization { get; init; }
}

/// <summary>
/// Forecasting samples drawn from a <see cref="TimeSeriesSet"/> without copying it: the split's windows as indices,
/// the training statistics, and the filling of caller-provided batch buffers, standardised and, if asked,
/// normalised per window. Immutable once built; <see cref="Fill(ForecastWindowSet, ReadOnlySpan{int}, Span{float}, Span{float}, Span{float})"/>
/// may run on several threads at once.
/// </summary>
/// <remarks>
/// Each value a batch holds, for input column i (table column c) at window step t, and target column j (table
/// column d) at horizon step h, of a window starting at row s:
/// <code>
/// x′[t, i] = (x[s + t, c] − input_mean[i]) / input_std[i]            float32: subtract, then divide
/// y′[h, j] = (x[s + L + h, d] − target_mean[j]) / target_std[j]
/// inputs[t, i]  = x′[t, i] − o[i]           targets[h, j] = y′[h, j] − ô[j]
/// </code>
/// with the offsets o, ô of <see cref="WindowNormalizer"/> (zero when WindowNormalization is None). Means and
/// population standard deviations (divisor n) are taken per column, in double, over the training rows of every
/// series; a standard deviation that is 0 is replaced by 1. Without standardisation the means are 0 and the
/// standard deviations 1.
/// </remarks>
public sealed class ForecastWindows
{
    private readonly int[] _inputColumns, _targetColumns;   // positions in the table
    private readonly float[] _inputMean, _inputStd, _targetMean, _targetStd;
    private readonly SplitRows[] _rows;                      // per series

    /// <exception cref="ArgumentException">An option is out of range, a column is unknown, or no training window fits.</exception>
    public ForecastWindows(TimeSeriesSet data, ForecastWindowOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Window, 1, "Window");
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Horizon, 1, "Horizon");
        ArgumentOutOfRangeException.ThrowIfLessThan(options.Stride, 1, "Stride");
        Data = data;
        Options = options;
        _inputColumns = ResolveColumns(data, options.InputColumns, "input");
        _targetColumns = ResolveColumns(data, options.TargetColumns, "target");
        InputColumns = [.. _inputColumns.Select(c => data.ColumnNames[c])];
        TargetColumns = [.. _targetColumns.Select(c => data.ColumnNames[c])];

        var targetInputIndex = _targetColumns.Select(c => Array.IndexOf(_inputColumns, c)).ToArray();
        if (options.WindowNormalization != WindowNormalization.None && Array.IndexOf(targetInputIndex, -1) is int missing and >= 0)
            throw new ArgumentException(
                $"Per-window normalisation needs every target among the inputs: its offset comes from the inputs; '{TargetColumns[missing]}' is not an input.", nameof(options));
        Normalizer = new WindowNormalizer(options.WindowNormalization, _inputColumns.Length, targetInputIndex);

        _rows = new SplitRows[data.SeriesCount];
        for (int s = 0; s < _rows.Length; s++) _rows[s] = options.Split.Resolve(data.RowCount(s));
        Train = Windows(part: 0);
        Validation = Windows(part: 1);
        Test = Windows(part: 2);
        if (Train.Count == 0)
            throw new ArgumentException(
                $"No training window fits: a window needs {options.Window} + {options.Horizon} rows, and the longest training part has {_rows.Max(r => r.TrainEnd)}.", nameof(options));

        (float[] mean, float[] std) = Statistics(data, _rows, options.Standardize);
        _inputMean = [.. _inputColumns.Select(c => mean[c])];
        _inputStd = [.. _inputColumns.Select(c => std[c])];
        _targetMean = [.. _targetColumns.Select(c => mean[c])];
        _targetStd = [.. _targetColumns.Select(c => std[c])];
    }

    public TimeSeriesSet Data { get; }
    public ForecastWindowOptions Options { get; }
    public int Window => Options.Window;
    public int Horizon => Options.Horizon;
    public IReadOnlyList<string> InputColumns { get; }
    public IReadOnlyList<string> TargetColumns { get; }

    /// <summary>Values per input step: the model's input_size.</summary>
    public int InputSize => _inputColumns.Length;

    /// <summary>Values per forecast step: the model's output_size.</summary>
    public int OutputSize => _targetColumns.Length;

    public ForecastWindowSet Train { get; }
    public ForecastWindowSet Validation { get; }

    /// <summary>Empty unless the split has a test part.</summary>
    public ForecastWindowSet Test { get; }

    /// <summary>The per-window normalisation, with each target's position among the inputs (for the model config).</summary>
    public WindowNormalizer Normalizer { get; }

    /// <summary>For the model config's input_mean: a copy, or null without standardisation.</summary>
    public float[]? InputMean => Options.Standardize ? [.. _inputMean] : null;

    /// <summary>For the model config's input_std: a copy, or null without standardisation.</summary>
    public float[]? InputStd => Options.Standardize ? [.. _inputStd] : null;

    /// <summary>For the model config's target_mean: a copy, or null without standardisation.</summary>
    public float[]? TargetMean => Options.Standardize ? [.. _targetMean] : null;

    /// <summary>For the model config's target_std: a copy, or null without standardisation.</summary>
    public float[]? TargetStd => Options.Standardize ? [.. _targetStd] : null;

    /// <summary>Rows [0, TrainRows) of the series are its training rows: the statistics and the MASE scale come from them.</summary>
    public int TrainRows(int series) => _rows[series].TrainEnd;

    /// <summary>
    /// Fills a batch with the windows <paramref name="part"/>[indices[b]]: inputs [B, Window, InputSize],
    /// targets [B, Horizon, OutputSize], and targetOffsets [B, OutputSize] the offsets ô to add back to forecasts
    /// (pass an empty span if they are not needed). The math is in the remarks of <see cref="ForecastWindows"/>.
    /// </summary>
    public void Fill(ForecastWindowSet part, ReadOnlySpan<int> indices, Span<float> inputs, Span<float> targets, Span<float> targetOffsets)
    {
        if (part != Train && part != Validation && part != Test)
            throw new ArgumentException("The window set belongs to another ForecastWindows.", nameof(part));
        CheckBatch(indices.Length, inputs, targets, targetOffsets);
        for (int b = 0; b < indices.Length; b++) FillOne(part[indices[b]], inputs, targets, targetOffsets, b);
    }

    /// <summary>Fills a batch with the given windows; as the other overload.</summary>
    public void Fill(ReadOnlySpan<ForecastWindow> windows, Span<float> inputs, Span<float> targets, Span<float> targetOffsets)
    {
        CheckBatch(windows.Length, inputs, targets, targetOffsets);
        for (int b = 0; b < windows.Length; b++)
        {
            ForecastWindow w = windows[b];
            if ((uint)w.Series >= (uint)Data.SeriesCount || w.Start < 0 || w.Start > Data.RowCount(w.Series) - Window - Horizon)
                throw new ArgumentException($"Window {w} does not fit in its series.", nameof(windows));
            FillOne(w, inputs, targets, targetOffsets, b);
        }
    }

    /// <summary>
    /// Forecasts [B, Horizon, OutputSize] from the head, in place, to standardised units: adds back each window's
    /// offsets ô (targetOffsets [B, OutputSize] from Fill). Also turns filled targets back into standardised targets.
    /// </summary>
    public void RestoreOffsets(Span<float> forecasts, ReadOnlySpan<float> targetOffsets)
    {
        int perWindow = Horizon * OutputSize, batch = CheckForecasts(forecasts, targetOffsets);
        for (int b = 0; b < batch; b++)
            Normalizer.RestoreOffsets(forecasts.Slice(b * perWindow, perWindow), targetOffsets.Slice(b * OutputSize, OutputSize));
    }

    /// <summary>
    /// Forecasts [B, Horizon, OutputSize] from the head, in place, to original units: adds back the offsets, then
    /// y = fma(y′, target_std, target_mean), as the service de-normalises.
    /// </summary>
    public void ToOriginalUnits(Span<float> forecasts, ReadOnlySpan<float> targetOffsets)
    {
        RestoreOffsets(forecasts, targetOffsets);
        for (int at = 0; at < forecasts.Length; at += OutputSize)
        {
            Span<float> step = forecasts.Slice(at, OutputSize);
            for (int j = 0; j < step.Length; j++) step[j] = MathF.FusedMultiplyAdd(step[j], _targetStd[j], _targetMean[j]);
        }
    }

    /// <summary>
    /// The MASE scale of every series and target column, [SeriesCount, OutputSize] row-major: the mean absolute
    /// error of the seasonal naive forecast over the series' training rows
    /// (<see cref="ForecastMetrics.SeasonalNaiveScale"/>); in standardised units it is divided by target_std.
    /// </summary>
    public double[] SeasonalNaiveScales(int seasonLength = 1, bool originalUnits = true)
    {
        var scales = new double[Data.SeriesCount * OutputSize];
        for (int s = 0; s < Data.SeriesCount; s++)
        {
            ReadOnlySpan<float> training = Data.Rows(s)[..(TrainRows(s) * Data.ColumnCount)];
            for (int j = 0; j < OutputSize; j++)
            {
                double scale = ForecastMetrics.SeasonalNaiveScale(training, Data.ColumnCount, _targetColumns[j], seasonLength);
                scales[s * OutputSize + j] = originalUnits ? scale : scale / _targetStd[j];
            }
        }
        return scales;
    }

    private void FillOne(ForecastWindow window, Span<float> inputs, Span<float> targets, Span<float> targetOffsets, int b)
    {
        int columns = Data.ColumnCount, inputSize = InputSize, outputSize = OutputSize;
        ReadOnlySpan<float> rows = Data.Rows(window.Series);
        Span<float> input = inputs.Slice(b * Window * inputSize, Window * inputSize);
        Span<float> target = targets.Slice(b * Horizon * outputSize, Horizon * outputSize);

        Standardize(rows.Slice(window.Start * columns, Window * columns), columns, _inputColumns, _inputMean, _inputStd, input);
        Standardize(rows.Slice((window.Start + Window) * columns, Horizon * columns), columns, _targetColumns, _targetMean, _targetStd, target);
        if (Normalizer.Mode == WindowNormalization.None)
        {
            if (!targetOffsets.IsEmpty) targetOffsets.Slice(b * outputSize, outputSize).Clear();
            return;
        }

        float[]? rented = null;
        Span<float> offsets = targetOffsets.IsEmpty
            ? outputSize <= 256 ? stackalloc float[outputSize] : (rented = ArrayPool<float>.Shared.Rent(outputSize)).AsSpan(0, outputSize)
            : targetOffsets.Slice(b * outputSize, outputSize);
        Normalizer.Normalize(input, offsets);
        Normalizer.RemoveOffsets(target, offsets);
        if (rented is not null) ArrayPool<float>.Shared.Return(rented);
    }

    /// <summary>Picks <paramref name="picked"/> columns of each row and standardises them: (x − mean) / std, as the service does.</summary>
    private static void Standardize(ReadOnlySpan<float> rows, int columns, ReadOnlySpan<int> picked,
        ReadOnlySpan<float> mean, ReadOnlySpan<float> std, Span<float> destination)
    {
        int width = picked.Length;
        for (int r = 0, at = 0; at < destination.Length; r += columns, at += width)
        {
            ReadOnlySpan<float> row = rows.Slice(r, columns);
            Span<float> step = destination.Slice(at, width);
            for (int i = 0; i < step.Length; i++)
                step[i] = (row[picked[i]] - mean[i]) / std[i];
        }
    }

    private void CheckBatch(int batch, Span<float> inputs, Span<float> targets, Span<float> targetOffsets)
    {
        if (inputs.Length != (long)batch * Window * InputSize)
            throw new ArgumentException($"inputs has {inputs.Length} values; {batch} windows need {(long)batch * Window * InputSize}.", nameof(inputs));
        if (targets.Length != (long)batch * Horizon * OutputSize)
            throw new ArgumentException($"targets has {targets.Length} values; {batch} windows need {(long)batch * Horizon * OutputSize}.", nameof(targets));
        if (!targetOffsets.IsEmpty && targetOffsets.Length != batch * OutputSize)
            throw new ArgumentException($"targetOffsets has {targetOffsets.Length} values; {batch} windows need {batch * OutputSize} (or pass none).", nameof(targetOffsets));
    }

    private int CheckForecasts(Span<float> forecasts, ReadOnlySpan<float> targetOffsets)
    {
        int perWindow = Horizon * OutputSize;
        if (forecasts.Length % perWindow != 0)
            throw new ArgumentException($"{forecasts.Length} values are not whole forecasts of {Horizon} × {OutputSize}.", nameof(forecasts));
        int batch = forecasts.Length / perWindow;
        if (targetOffsets.Length != batch * OutputSize)
            throw new ArgumentException($"targetOffsets has {targetOffsets.Length} values; {batch} forecasts need {batch * OutputSize}.", nameof(targetOffsets));
        return batch;
    }

    /// <summary>The windows whose targets lie in a part (0 training, 1 validation, 2 test) of every series.</summary>
    private ForecastWindowSet Windows(int part)
    {
        int window = Window, span = Window + Horizon, stride = Options.Stride;
        var first = new int[_rows.Length];
        var counts = new int[_rows.Length];
        for (int s = 0; s < _rows.Length; s++)
        {
            SplitRows rows = _rows[s];
            (int partStart, int partEnd) = part switch
            {
                0 => (0, rows.TrainEnd),
                1 => (rows.TrainEnd, rows.ValidationEnd),
                _ => (rows.ValidationEnd, rows.TestEnd),
            };
            // Reaching back, the earliest window's first target is the part's first row.
            first[s] = Options.Split.InputsReachBack ? Math.Max(0, partStart - window) : partStart;
            int last = partEnd - span;
            counts[s] = partEnd > partStart && last >= first[s] ? (last - first[s]) / stride + 1 : 0;
        }
        return new ForecastWindowSet(first, counts, stride);
    }

    private static int[] ResolveColumns(TimeSeriesSet data, IReadOnlyList<string>? names, string role)
    {
        if (names is null) return [.. Enumerable.Range(0, data.ColumnCount)];
        if (names.Count == 0) throw new ArgumentException($"The {role} columns are an empty list; leave them unset for every column.");
        int[] columns = [.. names.Select(data.ColumnIndex)];
        if (columns.Distinct().Count() != columns.Length) throw new ArgumentException($"A column is listed twice among the {role} columns.");
        return columns;
    }

    /// <summary>Per table column: mean and population standard deviation over the training rows of every series, in two passes.</summary>
    private static (float[] Mean, float[] Std) Statistics(TimeSeriesSet data, SplitRows[] parts, bool standardize)
    {
        int columns = data.ColumnCount;
        var mean = new float[columns];
        var std = new float[columns];
        std.AsSpan().Fill(1);
        if (!standardize) return (mean, std);

        long count = 0;
        var sum = new double[columns];
        for (int s = 0; s < data.SeriesCount; s++)
        {
            ReadOnlySpan<float> rows = data.Rows(s);
            for (int r = 0; r < parts[s].TrainEnd; r++)
            {
                ReadOnlySpan<float> row = rows.Slice(r * columns, columns);
                for (int c = 0; c < columns; c++) sum[c] += row[c];
            }
            count += parts[s].TrainEnd;
        }
        var average = new double[columns];
        for (int c = 0; c < columns; c++) average[c] = sum[c] / count;

        var squares = new double[columns];
        for (int s = 0; s < data.SeriesCount; s++)
        {
            ReadOnlySpan<float> rows = data.Rows(s);
            for (int r = 0; r < parts[s].TrainEnd; r++)
            {
                ReadOnlySpan<float> row = rows.Slice(r * columns, columns);
                for (int c = 0; c < columns; c++)
                {
                    double d = row[c] - average[c];
                    squares[c] += d * d;
                }
            }
        }
        for (int c = 0; c < columns; c++)
        {
            mean[c] = (float)average[c];
            float deviation = (float)Math.Sqrt(squares[c] / count);
            // A constant column (or one whose spread underflows float32) would divide by zero; the config needs std > 0.
            std[c] = deviation > 0 && float.IsFinite(deviation) ? deviation : 1;
        }
        return (mean, std);
    }
}
