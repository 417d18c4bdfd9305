namespace GruService.Engine.Training.Metrics;

/// <summary>
/// Forecast errors accumulated over batches: MSE and MAE over every value, and MASE. Values are in whatever units
/// the caller passes (original, or standardised); MASE is the same in both when its scales are in matching units.
/// </summary>
/// <remarks>
/// MASE follows Hyndman and Koehler (2006), with the in-sample scale of the seasonal naive forecast taken per series
/// and target column c over that series' training values y_0 … y_{n−1}:
/// <code>
/// scale[s, c] = (1 / (n − m)) · Σ_{t = m … n−1} |y_t − y_{t−m}|              m = season length (1: the naive forecast)
/// MASE        = mean over every forecast value (window, horizon step, column) of |ŷ − y| / scale[s, c]
/// </code>
/// For a single series and column this is MAE / scale. Values whose scale is 0 (a constant training series) or
/// undefined (n ≤ m) are left out of MASE only; <see cref="MaseCount"/> says how many values it covers, and
/// <see cref="Mase"/> is null when it covers none.
/// </remarks>
public sealed class ForecastMetrics
{
    private readonly double[]? _scales;
    private double _squared, _absolute, _scaled;

    /// <param name="outputSize">Target columns per forecast step.</param>
    /// <param name="scales">[series, outputSize] row-major MASE scales, or null to skip MASE.</param>
    public ForecastMetrics(int outputSize, double[]? scales = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(outputSize, 1);
        if (scales is not null && (scales.Length == 0 || scales.Length % outputSize != 0))
            throw new ArgumentException($"{scales.Length} scales are not whole series of {outputSize} columns.", nameof(scales));
        OutputSize = outputSize;
        _scales = scales;
    }

    public int OutputSize { get; }

    /// <summary>Values compared so far.</summary>
    public long Count { get; private set; }

    /// <summary>Values MASE covers: those of series and columns with a positive scale.</summary>
    public long MaseCount { get; private set; }

    /// <summary>Mean squared error; NaN before any value.</summary>
    public double Mse => _squared / Count;

    /// <summary>Mean absolute error; NaN before any value.</summary>
    public double Mae => _absolute / Count;

    /// <summary>Mean absolute scaled error; null without scales or when no value had a positive scale.</summary>
    public double? Mase => MaseCount == 0 ? null : _scaled / MaseCount;

    /// <summary>
    /// Adds forecasts of one series: <paramref name="predicted"/> and <paramref name="actual"/> are [steps, OutputSize]
    /// (any number of windows and horizon steps back to back).
    /// </summary>
    public void Add(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual, int series = 0)
    {
        if (predicted.Length != actual.Length)
            throw new ArgumentException($"{predicted.Length} predictions for {actual.Length} actual values.", nameof(predicted));
        if (predicted.Length % OutputSize != 0)
            throw new ArgumentException($"{predicted.Length} values are not whole steps of {OutputSize} columns.", nameof(predicted));
        if (_scales is not null && (uint)series >= (uint)(_scales.Length / OutputSize))
            throw new ArgumentOutOfRangeException(nameof(series), series, $"There are scales for {_scales.Length / OutputSize} series.");

        ReadOnlySpan<double> scale = _scales is null ? default : _scales.AsSpan(series * OutputSize, OutputSize);
        for (int at = 0; at < predicted.Length; at += OutputSize)
        {
            for (int c = 0; c < OutputSize; c++)
            {
                double error = (double)predicted[at + c] - actual[at + c];
                _squared += error * error;
                _absolute += Math.Abs(error);
                if (!scale.IsEmpty && scale[c] > 0)
                {
                    _scaled += Math.Abs(error) / scale[c];
                    MaseCount++;
                }
            }
        }
        Count += predicted.Length;
    }

    /// <summary>Adds a batch whose windows come from different series: the values split evenly between the windows.</summary>
    public void Add(ReadOnlySpan<float> predicted, ReadOnlySpan<float> actual, ReadOnlySpan<int> seriesOfWindow)
    {
        if (seriesOfWindow.IsEmpty || predicted.Length % seriesOfWindow.Length != 0)
            throw new ArgumentException($"{predicted.Length} values do not split evenly between {seriesOfWindow.Length} windows.", nameof(seriesOfWindow));
        if (predicted.Length != actual.Length)
            throw new ArgumentException($"{predicted.Length} predictions for {actual.Length} actual values.", nameof(predicted));
        int perWindow = predicted.Length / seriesOfWindow.Length;
        for (int b = 0; b < seriesOfWindow.Length; b++)
            Add(predicted.Slice(b * perWindow, perWindow), actual.Slice(b * perWindow, perWindow), seriesOfWindow[b]);
    }

    /// <summary>
    /// The in-sample mean absolute error of the seasonal naive forecast ŷ_t = y_{t−m} on one column of row-major
    /// <paramref name="rows"/>: (1 / (n − m)) Σ_{t=m}^{n−1} |y_t − y_{t−m}|, or 0 when n ≤ m.
    /// </summary>
    public static double SeasonalNaiveScale(ReadOnlySpan<float> rows, int columnCount, int column, int seasonLength = 1)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(columnCount, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(column);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(column, columnCount);
        ArgumentOutOfRangeException.ThrowIfLessThan(seasonLength, 1);
        int n = rows.Length / columnCount;
        if (n <= seasonLength) return 0;
        double sum = 0;
        for (int t = seasonLength; t < n; t++)
            sum += Math.Abs((double)rows[t * columnCount + column] - rows[(t - seasonLength) * columnCount + column]);
        return sum / (n - seasonLength);
    }
}
