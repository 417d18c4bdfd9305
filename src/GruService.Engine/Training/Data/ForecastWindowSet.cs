using System.Collections;

namespace GruService.Engine.Training.Data;

/// <summary>A forecasting sample: rows [Start, Start + window) of a series are its inputs, the next horizon rows its targets.</summary>
public readonly record struct ForecastWindow(int Series, int Start);

/// <summary>
/// The windows of one part of a split (training, validation or test), numbered 0 … Count − 1 series by series,
/// and by start within a series. Held as one arithmetic run per series, so even a very long dataset costs a few
/// integers here; window i is found by a binary search over the series.
/// </summary>
public sealed class ForecastWindowSet : IReadOnlyList<ForecastWindow>
{
    private readonly int[] _firstStart;   // series → start of its first window
    private readonly int[] _windowsBefore; // series → windows of the earlier series; one extra entry holds Count

    internal ForecastWindowSet(int[] firstStart, int[] counts, int stride)
    {
        _firstStart = firstStart;
        _windowsBefore = new int[counts.Length + 1];
        long total = 0;
        for (int s = 0; s < counts.Length; s++)
        {
            _windowsBefore[s] = (int)total;
            total += counts[s];
            if (total > int.MaxValue) throw new ArgumentException($"The split part has more than {int.MaxValue} windows; use a larger stride.");
        }
        _windowsBefore[counts.Length] = (int)total;
        Stride = stride;
    }

    public int Count => _windowsBefore[^1];

    /// <summary>Rows between the starts of consecutive windows of a series.</summary>
    public int Stride { get; }

    public int CountInSeries(int series) => _windowsBefore[series + 1] - _windowsBefore[series];

    public ForecastWindow this[int index]
    {
        get
        {
            if ((uint)index >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(index), index, $"The part has {Count} windows.");
            // The last series whose first window number is ≤ index (empty series share a number with the next one).
            int low = 0, high = _firstStart.Length - 1;
            while (low < high)
            {
                int mid = (low + high + 1) / 2;
                if (_windowsBefore[mid] <= index) low = mid; else high = mid - 1;
            }
            return new ForecastWindow(low, _firstStart[low] + (index - _windowsBefore[low]) * Stride);
        }
    }

    public IEnumerator<ForecastWindow> GetEnumerator()
    {
        for (int s = 0; s < _firstStart.Length; s++)
            for (int k = 0; k < CountInSeries(s); k++)
                yield return new ForecastWindow(s, _firstStart[s] + k * Stride);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
