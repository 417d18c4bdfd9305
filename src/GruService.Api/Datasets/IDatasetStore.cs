namespace GruService.Api.Datasets;

/// <summary>
/// Durable datasets. An upload is written through an <see cref="IDatasetUpload"/> and appears whole when committed,
/// or not at all: a failed or abandoned upload leaves nothing behind.
/// </summary>
public interface IDatasetStore
{
    /// <summary>Starts a new dataset with a fresh id; its files stay invisible until the upload is committed.</summary>
    IDatasetUpload BeginUpload();

    /// <summary>Every stored dataset, oldest first.</summary>
    Task<IReadOnlyList<DatasetRecord>> ListAsync(CancellationToken cancellationToken);

    /// <summary>The dataset's record, or null when there is no dataset with this id.</summary>
    Task<DatasetRecord?> GetAsync(string id, CancellationToken cancellationToken);

    /// <returns>False when there was no dataset with this id.</returns>
    Task<bool> DeleteAsync(string id, CancellationToken cancellationToken);

    /// <summary>The values of a time-series (CSV) dataset, each series whole.</summary>
    /// <exception cref="KeyNotFoundException">There is no dataset with this id.</exception>
    /// <exception cref="InvalidOperationException">The dataset holds labelled sequences, not time series.</exception>
    /// <exception cref="InvalidDataException">The stored files do not match the record.</exception>
    Task<TimeSeriesData> LoadTimeSeriesAsync(string id, CancellationToken cancellationToken);

    /// <summary>The sequences and labels of a labelled-sequence (NDJSON) dataset.</summary>
    /// <exception cref="KeyNotFoundException">There is no dataset with this id.</exception>
    /// <exception cref="InvalidOperationException">The dataset holds time series, not labelled sequences.</exception>
    /// <exception cref="InvalidDataException">The stored files do not match the record.</exception>
    Task<SequenceData> LoadSequencesAsync(string id, CancellationToken cancellationToken);
}

/// <summary>A dataset being written. Disposing it without <see cref="CommitAsync"/> discards everything written.</summary>
public interface IDatasetUpload : IAsyncDisposable
{
    string Id { get; }

    /// <summary>A new, empty file of the dataset (one of the <see cref="DatasetFiles"/> names).</summary>
    Stream CreateFile(string name);

    /// <summary>Stores the record and makes the dataset visible, atomically. Returns the record with its stored size filled in.</summary>
    Task<DatasetRecord> CommitAsync(DatasetRecord record, CancellationToken cancellationToken);
}

/// <summary>
/// The stored form of a dataset, shared by the parsers that write it and the store that loads it. Numbers are
/// little-endian float32 / int32 with no header; the record says how many there are.
/// </summary>
public static class DatasetFiles
{
    /// <summary>Time series: every data row in file order, row-major [rows × features]. Sequences: every time step of every sequence in file order, row-major [steps × width].</summary>
    public const string Values = "values.f32";

    /// <summary>Time series with a 'series' column: one int32 per row, the index of its series in the record's summary.series.</summary>
    public const string SeriesIndex = "series.i32";

    /// <summary>Sequences: one (int32 length, int32 label index) pair per sequence, in file order.</summary>
    public const string SequenceIndex = "sequences.i32";

    /// <summary>Sequences: a JSON array of the distinct labels; a label index points into it.</summary>
    public const string Labels = "labels.json";
}
