namespace GruService.Api.Datasets;

/// <summary>A stored dataset, as uploaded and summarised.</summary>
/// <param name="Id">16 lowercase hex characters, assigned at upload.</param>
/// <param name="Name">A label for people; not unique (the id is).</param>
/// <param name="Format">"csv" or "ndjson": what was uploaded.</param>
/// <param name="Kind">"time_series" (from CSV) or "sequences" (labelled sequences from NDJSON).</param>
/// <param name="Rows">Data rows of a CSV file (over all series), or sequences of an NDJSON file.</param>
/// <param name="Features">The feature columns of a CSV file in file order, or x0, x1, ... for the step width of NDJSON sequences.</param>
/// <param name="SizeBytes">Bytes the parsed values take in storage.</param>
/// <param name="UploadBytes">Bytes of the uploaded body.</param>
/// <param name="CreatedAt">When it was stored.</param>
/// <param name="Summary">Series and their lengths (time series), or label counts and sequence lengths (sequences).</param>
public sealed record DatasetRecord(
    string Id,
    string Name,
    string Format,
    string Kind,
    long Rows,
    IReadOnlyList<string> Features,
    long SizeBytes,
    long UploadBytes,
    DateTimeOffset CreatedAt,
    DatasetSummary Summary)
{
    public const string CsvFormat = "csv";
    public const string NdjsonFormat = "ndjson";
    public const string TimeSeriesKind = "time_series";
    public const string SequencesKind = "sequences";
}

/// <summary>What a dataset holds. Time series fill series, series_column, time_column and ignored_columns; sequences fill label_counts, min_length and max_length.</summary>
/// <param name="Series">Time series: each series in order of first appearance in the file.</param>
/// <param name="TimeColumn">Time series: the column read as the time index, when there is one.</param>
/// <param name="IgnoredColumns">Time series: text columns that are neither features, the series id nor the time index.</param>
/// <param name="LabelCounts">Sequences: how many sequences carry each label, labels in order of first appearance.</param>
/// <param name="MinLength">Sequences: the fewest time steps in a sequence.</param>
/// <param name="MaxLength">Sequences: the most time steps in a sequence.</param>
/// <param name="SeriesColumn">Time series: the column read as the series id, when there is one.</param>
public sealed record DatasetSummary(
    IReadOnlyList<SeriesSummary>? Series = null,
    string? TimeColumn = null,
    IReadOnlyList<string>? IgnoredColumns = null,
    IReadOnlyDictionary<string, long>? LabelCounts = null,
    int? MinLength = null,
    int? MaxLength = null,
    string? SeriesColumn = null);

/// <summary>One time series of a CSV dataset.</summary>
/// <param name="Name">Its id, the value of the series column; absent when the file has no series column (it then holds one series).</param>
/// <param name="Length">Its rows (time steps).</param>
/// <param name="FirstTime">Its first time index value, as written in the file; absent without a time column.</param>
/// <param name="LastTime">Its last time index value, as written in the file; absent without a time column.</param>
public sealed record SeriesSummary(string? Name, long Length, string? FirstTime, string? LastTime);

/// <summary>Every stored dataset.</summary>
/// <param name="Datasets">Oldest first.</param>
public sealed record DatasetList(IReadOnlyList<DatasetRecord> Datasets);

/// <summary>A time-series dataset loaded for training.</summary>
/// <param name="Features">Feature names, in the column order of <see cref="TimeSeries.Values"/>.</param>
/// <param name="Series">Each series in order of first appearance, its rows in file order.</param>
public sealed record TimeSeriesData(IReadOnlyList<string> Features, IReadOnlyList<TimeSeries> Series);

/// <summary>One series of a time-series dataset.</summary>
/// <param name="Name">The series id, or null when the file had no series column.</param>
/// <param name="Length">Time steps.</param>
/// <param name="Values">Row-major [Length × features].</param>
public sealed record TimeSeries(string? Name, int Length, float[] Values);

/// <summary>A labelled-sequence dataset loaded for training.</summary>
/// <param name="Width">Features per time step.</param>
/// <param name="Labels">The distinct labels in order of first appearance.</param>
/// <param name="Sequences">Every sequence in file order.</param>
public sealed record SequenceData(int Width, IReadOnlyList<string> Labels, IReadOnlyList<LabeledSequence> Sequences);

/// <summary>One sequence of a labelled-sequence dataset.</summary>
/// <param name="Length">Time steps.</param>
/// <param name="Values">Row-major [Length × width].</param>
/// <param name="Label">Its label.</param>
public sealed record LabeledSequence(int Length, float[] Values, string Label);

/// <summary>What a parser read from an upload: the record's content before it has an id, a name and a stored size.</summary>
internal sealed record ParsedDataset(string Format, string Kind, long Rows, IReadOnlyList<string> Features, DatasetSummary Summary);
