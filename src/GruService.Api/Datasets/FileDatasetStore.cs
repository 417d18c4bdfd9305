using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using System.Text.RegularExpressions;
using GruService.Api.Models;
using Microsoft.Extensions.Options;

namespace GruService.Api.Datasets;

/// <summary>
/// Datasets on the local file system, for a single instance: <c>ROOT/datasets/ID/</c> holds <c>dataset.json</c> (the
/// record) and the <see cref="DatasetFiles"/>. An upload is written to <c>ROOT/tmp/dataset-upload-ID/</c> and renamed
/// into place whole when committed; deletion renames the directory away before removing it. Either way a dataset
/// is complete or absent, and staging left by a crash is removed at start-up.
/// </summary>
public sealed partial class FileDatasetStore : IDatasetStore
{
    private const string RecordFile = "dataset.json";
    private const string StagingPrefix = "dataset-";
    private readonly string _datasets;
    private readonly string _staging;
    private readonly ILogger<FileDatasetStore> _logger;

    public FileDatasetStore(IOptions<StorageOptions> options, ILogger<FileDatasetStore> logger)
    {
        _logger = logger;
        string root = Path.GetFullPath(options.Value.Root);
        _datasets = Path.Combine(root, "datasets");
        _staging = Path.Combine(root, "tmp");
        Directory.CreateDirectory(_datasets);
        Directory.CreateDirectory(_staging);
        // Nothing is uploading yet in this process; anything staged is what a crash left behind.
        foreach (string leftover in Directory.EnumerateDirectories(_staging, StagingPrefix + "*"))
            TryDeleteDirectory(leftover);
    }

    [GeneratedRegex("^[0-9a-f]{16}$")]
    private static partial Regex IdPattern();

    public static bool IsValidId(string id) => IdPattern().IsMatch(id);

    public IDatasetUpload BeginUpload()
    {
        string id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(8));
        string directory = Path.Combine(_staging, $"{StagingPrefix}upload-{id}");
        Directory.CreateDirectory(directory);
        return new Upload(this, id, directory);
    }

    public IReadOnlyList<DatasetRecord> List() =>
        [.. Directory.EnumerateDirectories(_datasets)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Select(Get)
            .OfType<DatasetRecord>()
            .OrderBy(d => d.CreatedAt)
            .ThenBy(d => d.Id, StringComparer.Ordinal)];

    public DatasetRecord? Get(string id)
    {
        if (!IsValidId(id)) return null;
        string path = Path.Combine(_datasets, id, RecordFile);
        try
        {
            return JsonSerializer.Deserialize(File.ReadAllBytes(path), DatasetStoreJson.Default.DatasetRecord);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
    }

    public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        string directory = Path.Combine(_datasets, id);
        if (!IsValidId(id) || !Directory.Exists(directory)) return Task.FromResult(false);
        // One rename makes the dataset disappear at once; the files are removed afterwards.
        string doomed = Path.Combine(_staging, $"{StagingPrefix}deleted-{id}-{Guid.NewGuid():N}");
        try
        {
            Directory.Move(directory, doomed);
        }
        catch (DirectoryNotFoundException)
        {
            return Task.FromResult(false); // deleted by a concurrent request
        }
        Directory.Delete(doomed, recursive: true);
        LogDeleted(id);
        return Task.FromResult(true);
    }

    public async Task<TimeSeriesData> LoadTimeSeriesAsync(string id, CancellationToken cancellationToken)
    {
        DatasetRecord record = RequireRecord(id, DatasetRecord.TimeSeriesKind);
        int width = record.Features.Count;
        IReadOnlyList<SeriesSummary> series = record.Summary.Series ?? throw Damaged(id, "the record lists no series");
        float[][] values = [.. series.Select(s => new float[ArrayLength(id, s.Length, width)])];
        int[] filled = new int[series.Count];

        string directory = Path.Combine(_datasets, id);
        string seriesPath = Path.Combine(directory, DatasetFiles.SeriesIndex);
        await using FileStream valueFile = OpenRead(Path.Combine(directory, DatasetFiles.Values));
        await using FileStream? seriesFile = File.Exists(seriesPath) ? OpenRead(seriesPath) : null;
        if (seriesFile is null && series.Count != 1) throw Damaged(id, $"{DatasetFiles.SeriesIndex} is missing");
        ExpectLength(id, valueFile, record.Rows * width * sizeof(float));
        if (seriesFile is not null) ExpectLength(id, seriesFile, record.Rows * sizeof(int));

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

    public async Task<SequenceData> LoadSequencesAsync(string id, CancellationToken cancellationToken)
    {
        DatasetRecord record = RequireRecord(id, DatasetRecord.SequencesKind);
        int width = record.Features.Count;
        string directory = Path.Combine(_datasets, id);
        string[] labels = JsonSerializer.Deserialize(await File.ReadAllBytesAsync(Path.Combine(directory, DatasetFiles.Labels), cancellationToken),
            DatasetStoreJson.Default.StringArray) ?? throw Damaged(id, $"{DatasetFiles.Labels} is empty");

        await using FileStream indexFile = OpenRead(Path.Combine(directory, DatasetFiles.SequenceIndex));
        await using FileStream valueFile = OpenRead(Path.Combine(directory, DatasetFiles.Values));
        ExpectLength(id, indexFile, record.Rows * 2 * sizeof(int));

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

    private DatasetRecord RequireRecord(string id, string kind)
    {
        DatasetRecord record = Get(id) ?? throw new KeyNotFoundException($"There is no dataset '{id}'.");
        if (record.Kind != kind)
            throw new InvalidOperationException($"Dataset '{id}' holds {record.Kind.Replace('_', ' ')}, not {kind.Replace('_', ' ')}.");
        return record;
    }

    private static int ArrayLength(string id, long length, int width) =>
        length * width <= Array.MaxLength
            ? (int)(length * width)
            : throw new InvalidDataException($"Dataset '{id}' has a series of {length} × {width} values, more than one array can hold.");

    private static FileStream OpenRead(string path) =>
        new(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);

    private static void ExpectLength(string id, FileStream file, long bytes)
    {
        if (file.Length != bytes) throw Damaged(id, $"{Path.GetFileName(file.Name)} has {file.Length} bytes where the record implies {bytes}");
    }

    private static InvalidDataException Damaged(string id, string problem) => new($"The stored files of dataset '{id}' are damaged: {problem}.");

    private void TryDeleteDirectory(string path)
    {
        try
        {
            Directory.Delete(path, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogCleanupFailed(path, e.Message);
        }
    }

    private sealed class Upload(FileDatasetStore store, string id, string directory) : IDatasetUpload
    {
        private bool _committed;

        public string Id => id;

        public Stream CreateFile(string name) =>
            new FileStream(Path.Combine(directory, name), FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16, FileOptions.Asynchronous);

        public async Task<DatasetRecord> CommitAsync(DatasetRecord record, CancellationToken cancellationToken)
        {
            long size = Directory.EnumerateFiles(directory).Sum(file => new FileInfo(file).Length);
            record = record with { Id = id, SizeBytes = size };
            await using (var stream = new FileStream(Path.Combine(directory, RecordFile), FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous))
            {
                await JsonSerializer.SerializeAsync(stream, record, DatasetStoreJson.Default.DatasetRecord, cancellationToken);
                stream.Flush(flushToDisk: true);
            }
            Directory.Move(directory, Path.Combine(store._datasets, id));
            _committed = true;
            store.LogStored(id, record.Name, record.Format, record.Rows, size);
            return record;
        }

        public ValueTask DisposeAsync()
        {
            if (!_committed) store.TryDeleteDirectory(directory);
            return ValueTask.CompletedTask;
        }
    }

    [LoggerMessage(LogLevel.Information, "Stored dataset {DatasetId} ({DatasetName}, {Format}, {Rows} rows, {SizeBytes} bytes)")]
    private partial void LogStored(string datasetId, string datasetName, string format, long rows, long sizeBytes);

    [LoggerMessage(LogLevel.Information, "Deleted dataset {DatasetId}")]
    private partial void LogDeleted(string datasetId);

    [LoggerMessage(LogLevel.Warning, "Could not remove dataset staging directory {Path}: {Reason}")]
    private partial void LogCleanupFailed(string path, string reason);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(DatasetRecord))]
[System.Text.Json.Serialization.JsonSerializable(typeof(string[]))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull)]
internal sealed partial class DatasetStoreJson : System.Text.Json.Serialization.JsonSerializerContext;
