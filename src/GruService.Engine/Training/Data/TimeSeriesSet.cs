namespace GruService.Engine.Training.Data;

/// <summary>
/// One or more time series sharing the same named columns: for each series, float values over time, stored
/// row-major ([rows, columns]). The arrays are taken as they are, not copied, so a large dataset exists once;
/// the caller must not change them afterwards.
/// </summary>
public sealed class TimeSeriesSet
{
    private readonly float[][] _series;
    private readonly Dictionary<string, int> _columnIndex;

    /// <param name="columnNames">Distinct, non-empty names of the columns, in storage order.</param>
    /// <param name="series">Per series, its rows back to back: row t holds columnNames.Count values. At least one row each.</param>
    /// <param name="seriesIds">Optional distinct names of the series, one per series.</param>
    /// <exception cref="ArgumentException">A shape does not fit, a name repeats, or a value is NaN or infinite.</exception>
    public TimeSeriesSet(IReadOnlyList<string> columnNames, IReadOnlyList<float[]> series, IReadOnlyList<string>? seriesIds = null)
    {
        if (columnNames.Count == 0) throw new ArgumentException("A time series set needs at least one column.", nameof(columnNames));
        _columnIndex = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int c = 0; c < columnNames.Count; c++)
        {
            if (string.IsNullOrEmpty(columnNames[c])) throw new ArgumentException($"Column {c} has no name.", nameof(columnNames));
            if (!_columnIndex.TryAdd(columnNames[c], c)) throw new ArgumentException($"Column '{columnNames[c]}' appears twice.", nameof(columnNames));
        }
        if (series.Count == 0) throw new ArgumentException("A time series set needs at least one series.", nameof(series));
        if (seriesIds is not null)
        {
            if (seriesIds.Count != series.Count)
                throw new ArgumentException($"{seriesIds.Count} series ids for {series.Count} series.", nameof(seriesIds));
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (string id in seriesIds)
                if (id is null || !seen.Add(id)) throw new ArgumentException($"Series id '{id}' is missing or repeated.", nameof(seriesIds));
        }

        ColumnNames = [.. columnNames];
        SeriesIds = seriesIds is null ? null : [.. seriesIds];
        _series = [.. series];
        int columns = columnNames.Count;
        for (int s = 0; s < _series.Length; s++)
        {
            float[] rows = _series[s] ?? throw new ArgumentException($"Series {Name(s)} is null.", nameof(series));
            if (rows.Length == 0 || rows.Length % columns != 0)
                throw new ArgumentException($"Series {Name(s)} has {rows.Length} values, not a positive multiple of {columns} columns.", nameof(series));
            // A NaN would silently poison the statistics and every window near it; missing values are filled before this.
            int bad = rows.AsSpan().IndexOfAnyExceptInRange(float.MinValue, float.MaxValue);
            if (bad >= 0)
                throw new ArgumentException(
                    $"Series {Name(s)} row {bad / columns} column '{ColumnNames[bad % columns]}' is {rows[bad]}; every value must be finite.", nameof(series));
            TotalRows += rows.Length / columns;
        }
    }

    public IReadOnlyList<string> ColumnNames { get; }
    public int ColumnCount => ColumnNames.Count;
    public int SeriesCount => _series.Length;

    /// <summary>The series' names, or null when none were given (series are then known by their index).</summary>
    public IReadOnlyList<string>? SeriesIds { get; }

    public long TotalRows { get; }

    public int RowCount(int series) => _series[series].Length / ColumnCount;

    /// <summary>The series' values, row-major [RowCount, ColumnCount].</summary>
    public ReadOnlySpan<float> Rows(int series) => _series[series];

    /// <exception cref="ArgumentException">No column has this name.</exception>
    public int ColumnIndex(string name) =>
        _columnIndex.TryGetValue(name, out int index)
            ? index
            : throw new ArgumentException($"There is no column '{name}'; the columns are {string.Join(", ", ColumnNames.Select(n => $"'{n}'"))}.", nameof(name));

    private string Name(int series) => SeriesIds is null ? series.ToString() : $"'{SeriesIds[series]}'";
}
