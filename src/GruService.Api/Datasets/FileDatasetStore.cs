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

    public async Task<IReadOnlyList<DatasetRecord>> ListAsync(CancellationToken cancellationToken)
    {
        var records = new List<DatasetRecord>();
        foreach (string id in Directory.EnumerateDirectories(_datasets).Select(Path.GetFileName).OfType<string>())
        {
            if (await GetAsync(id, cancellationToken) is { } record) records.Add(record);
        }
        return [.. records.OrderBy(d => d.CreatedAt).ThenBy(d => d.Id, StringComparer.Ordinal)];
    }

    public async Task<DatasetRecord?> GetAsync(string id, CancellationToken cancellationToken)
    {
        if (!IsValidId(id)) return null;
        string path = Path.Combine(_datasets, id, RecordFile);
        try
        {
            return JsonSerializer.Deserialize(await File.ReadAllBytesAsync(path, cancellationToken), DatasetStoreJson.Default.DatasetRecord);
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

    public async Task<TimeSeriesData> LoadTimeSeriesAsync(string id, CancellationToken cancellationToken) =>
        await StoredDatasetReader.LoadTimeSeriesAsync(StoredDatasetReader.Require(await GetAsync(id, cancellationToken), id, DatasetRecord.TimeSeriesKind),
            (name, _) => Task.FromResult<Stream?>(OpenRead(id, name)), cancellationToken);

    public async Task<SequenceData> LoadSequencesAsync(string id, CancellationToken cancellationToken) =>
        await StoredDatasetReader.LoadSequencesAsync(StoredDatasetReader.Require(await GetAsync(id, cancellationToken), id, DatasetRecord.SequencesKind),
            (name, _) => Task.FromResult<Stream?>(OpenRead(id, name)), cancellationToken);

    private FileStream? OpenRead(string id, string name)
    {
        string path = Path.Combine(_datasets, id, name);
        return File.Exists(path)
            ? new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan)
            : null;
    }

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
