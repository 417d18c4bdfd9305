using System.Buffers.Binary;
using System.Text.Json;

namespace GruService.Api.Datasets;

/// <summary>
/// Decodes the stored <see cref="DatasetFiles"/> of a dataset into training data, checking them against its record.
/// Shared by the stores, which differ only in where the files are: <c>open</c> gives a readable stream of a file
/// whose Length is known, or null when the dataset has no such file.
/// </summary>
internal static class StoredDatasetReader
{
    public static async Task<TimeSeriesData> LoadTimeSeriesAsync(DatasetRecord record, Func<string, CancellationToken, Task<Stream?>> open, CancellationToken cancellationToken)
    {
        string id = record.Id;
        int width = record.Features.Count;
        IReadOnlyList<SeriesSummary> series = record.Summary.Series ?? throw Damaged(id, "the record lists no series");
        float[][] values = [.. series.Select(s => new float[ArrayLength(id, s.Length, width)])];
        int[] filled = new int[series.Count];

        await using Stream valueFile = await open(DatasetFiles.Values, cancellationToken) ?? throw Damaged(id, $"{DatasetFiles.Values} is missing");
        await using Stream? seriesFile = await open(DatasetFiles.SeriesIndex, cancellationToken);
        if (seriesFile is null && series.Count != 1) throw Damaged(id, $"{DatasetFiles.SeriesIndex} is missing");
        ExpectLength(id, DatasetFiles.Values, valueFile, record.Rows * width * sizeof(float));
        if (seriesFile is not null) ExpectLength(id, DatasetFiles.SeriesIndex, seriesFile, record.Rows * sizeof(int));

        int rowBytes = width * sizeof(float);
        int chunkRows = Math.Max(1, (1 << 16) / rowBytes);
        byte[] valueChunk = new byte[chunkRows * rowBytes];
        byte[] seriesChunk = new byte[chunkRows * sizeof(int)];
        for (long done = 0; done < record.Rows;)
        {
            int rows = (int)Math.Min(chunkRows, record.Rows - done);
            await valueFile.ReadExactlyAsync(valueChunk.AsMemory(0, rows * rowBytes), cancellationToken);
            if (seriesFile is not null) await seriesFile.ReadExactlyAsync(seriesChunk.AsMemory(0, rows * sizeof(int)), cancellationToken);
            for (int row = 0; row < rows; row++)
            {
                int s = seriesFile is null ? 0 : BinaryPrimitives.ReadInt32LittleEndian(seriesChunk.AsSpan(row * sizeof(int)));
                if ((uint)s >= (uint)values.Length || filled[s] == series[s].Length)
                    throw Damaged(id, $"row {done + row + 1} belongs to series {s}, which the record does not have room for");
                LittleEndianWriter.Decode(valueChunk.AsSpan(row * rowBytes, rowBytes), values[s].AsSpan(filled[s] * width, width));
                filled[s]++;
            }
            done += rows;
        }
        if (Enumerable.Range(0, series.Count).Any(s => filled[s] != series[s].Length))
            throw Damaged(id, "the series lengths do not match the record");
        return new TimeSeriesData(record.Features, [.. series.Select((s, i) => new TimeSeries(s.Name, filled[i], values[i]))]);
    }

    public static async Task<SequenceData> LoadSequencesAsync(DatasetRecord record, Func<string, CancellationToken, Task<Stream?>> open, CancellationToken cancellationToken)
    {
        string id = record.Id;
        int width = record.Features.Count;
        string[] labels;
        await using (Stream labelFile = await open(DatasetFiles.Labels, cancellationToken) ?? throw Damaged(id, $"{DatasetFiles.Labels} is missing"))
            labels = await JsonSerializer.DeserializeAsync(labelFile, DatasetStoreJson.Default.StringArray, cancellationToken) ?? throw Damaged(id, $"{DatasetFiles.Labels} is empty");

        await using Stream indexFile = await open(DatasetFiles.SequenceIndex, cancellationToken) ?? throw Damaged(id, $"{DatasetFiles.SequenceIndex} is missing");
        await using Stream valueFile = await open(DatasetFiles.Values, cancellationToken) ?? throw Damaged(id, $"{DatasetFiles.Values} is missing");
        ExpectLength(id, DatasetFiles.SequenceIndex, indexFile, record.Rows * 2 * sizeof(int));

        var sequences = new List<LabeledSequence>((int)Math.Min(record.Rows, 1 << 20));
        byte[] entry = new byte[2 * sizeof(int)];
        byte[] bytes = [];
        long valuesRead = 0;
        for (long i = 0; i < record.Rows; i++)
        {
            await indexFile.ReadExactlyAsync(entry, cancellationToken);
            int length = BinaryPrimitives.ReadInt32LittleEndian(entry);
            int label = BinaryPrimitives.ReadInt32LittleEndian(entry.AsSpan(sizeof(int)));
            if (length <= 0 || (uint)label >= (uint)labels.Length) throw Damaged(id, $"sequence {i + 1} has length {length} and label index {label}");
            float[] values = new float[ArrayLength(id, length, width)];
            int byteCount = values.Length * sizeof(float);
            if (bytes.Length < byteCount) bytes = new byte[byteCount];
            await valueFile.ReadExactlyAsync(bytes.AsMemory(0, byteCount), cancellationToken);
            LittleEndianWriter.Decode(bytes.AsSpan(0, byteCount), values);
            valuesRead += byteCount;
            sequences.Add(new LabeledSequence(length, values, labels[label]));
        }
        if (valuesRead != valueFile.Length) throw Damaged(id, $"{DatasetFiles.Values} is longer than the sequences it should hold");
        return new SequenceData(width, labels, sequences);
    }

    private static int ArrayLength(string id, long length, int width) =>
        length * width <= Array.MaxLength
            ? (int)(length * width)
            : throw new InvalidDataException($"Dataset '{id}' has a series of {length} × {width} values, more than one array can hold.");

    private static void ExpectLength(string id, string name, Stream file, long bytes)
    {
        if (file.Length != bytes) throw Damaged(id, $"{name} has {file.Length} bytes where the record implies {bytes}");
    }

    /// <summary>The record of the dataset to load, checked to exist and to hold <paramref name="kind"/>.</summary>
    /// <exception cref="KeyNotFoundException">There is no dataset with this id.</exception>
    /// <exception cref="InvalidOperationException">The dataset holds the other kind of data.</exception>
    public static DatasetRecord Require(DatasetRecord? record, string id, string kind)
    {
        if (record is null) throw new KeyNotFoundException($"There is no dataset '{id}'.");
        if (record.Kind != kind)
            throw new InvalidOperationException($"Dataset '{id}' holds {record.Kind.Replace('_', ' ')}, not {kind.Replace('_', ' ')}.");
        return record;
    }

    public static InvalidDataException Damaged(string id, string problem) => new($"The stored files of dataset '{id}' are damaged: {problem}.");
}
