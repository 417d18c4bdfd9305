using System.Globalization;
using System.Text.Json;
using GruService.Engine;
using GruService.Engine.ModelFiles;
using Microsoft.Extensions.Options;

namespace GruService.Api.Models;

/// <summary>
/// Model files on the local file system, for a single instance:
/// <c>ROOT/models/NAME/VERSION.safetensors</c> with a <c>VERSION.json</c> record beside it, <c>ROOT/models/NAME/active</c>,
/// and <c>ROOT/models/NAME/task</c>, the task every version of the model has.
/// Every write goes to a temporary file that is flushed and then renamed over its target, so a crash leaves the old
/// file or the new one; temporary files a crash left behind are removed at start-up. Listing a directory and
/// reading a few bytes have no asynchronous form worth the name, so the reads complete before they return a task.
/// </summary>
public sealed partial class FileModelStore : IModelStore
{
    private const string ModelExtension = ".safetensors";
    private const string TemporaryExtension = ".tmp";
    private const string UploadPrefix = "upload-";
    private const string DeletedPrefix = "deleted-";
    private const string TaskFile = "task";
    private readonly string _models;
    private readonly string _staging;
    private readonly ILogger<FileModelStore> _logger;
    // Serialises the writes that decide what a model holds (adding a version, importing, deleting), so that checking
    // a new version's task against the model's and numbering it are one step whoever calls.
    private readonly SemaphoreSlim _writes = new(1, 1);

    public FileModelStore(IOptions<StorageOptions> options, ILogger<FileModelStore>? logger = null)
    {
        _logger = logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger<FileModelStore>.Instance;
        string root = Path.GetFullPath(options.Value.Root);
        _models = Path.Combine(root, "models");
        _staging = Path.Combine(root, "tmp");
        Directory.CreateDirectory(_models);
        Directory.CreateDirectory(_staging);
        RemoveLeftovers();
    }

    public Task<IReadOnlyList<string>> ListModelsAsync(CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<string>>([.. Directory.EnumerateDirectories(_models)
            .Select(Path.GetFileName)
            .OfType<string>()
            .Where(name => ModelName.IsValid(name) && Versions(name).Count > 0)
            .Order(StringComparer.Ordinal)]);

    public Task<IReadOnlyList<StoredVersion>> ListVersionsAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<StoredVersion>>(Versions(name));

    private List<StoredVersion> Versions(string name)
    {
        string directory = ModelDirectory(name);
        if (!Directory.Exists(directory)) return [];
        var versions = new List<StoredVersion>();
        foreach (string file in Directory.EnumerateFiles(directory, "*" + ModelExtension))
        {
            if (!int.TryParse(Path.GetFileNameWithoutExtension(file), NumberStyles.None, CultureInfo.InvariantCulture, out int version)) continue;
            versions.Add(ReadRecord(file, version));
        }
        versions.Sort((a, b) => a.Version.CompareTo(b.Version));
        return versions;
    }

    public Task<int?> GetActiveVersionAsync(string name, CancellationToken cancellationToken) => Task.FromResult(ActiveVersion(name));

    private int? ActiveVersion(string name)
    {
        string path = Path.Combine(ModelDirectory(name), "active");
        if (!File.Exists(path)) return null;
        return int.TryParse(File.ReadAllText(path).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int version) ? version : null;
    }

    public Task<byte[]> ReadAsync(string name, int version, CancellationToken cancellationToken) =>
        File.ReadAllBytesAsync(ModelPath(name, version), cancellationToken);

    public Stream CreateStagingFile(out string stagingPath)
    {
        Directory.CreateDirectory(_staging);
        stagingPath = Path.Combine(_staging, $"{UploadPrefix}{Guid.NewGuid():N}");
        return new FileStream(stagingPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.Asynchronous);
    }

    public async Task<StoredVersion> AddVersionAsync(string name, GruTask task, string stagingPath, string sha256, CancellationToken cancellationToken)
    {
        await _writes.WaitAsync(cancellationToken);
        try
        {
            return await AddVersionHoldingLockAsync(name, task, stagingPath, sha256, cancellationToken);
        }
        finally
        {
            _writes.Release();
        }
    }

    /// <summary>Checks the task, numbers the version and moves the file in; the caller holds <see cref="_writes"/>.</summary>
    private async Task<StoredVersion> AddVersionHoldingLockAsync(string name, GruTask task, string stagingPath, string sha256, CancellationToken cancellationToken)
    {
        List<StoredVersion> versions = Versions(name);
        GruTask? recorded = null;
        if (versions.Count > 0)
        {
            recorded = RecordedTask(name);
            if ((recorded ?? TaskOfStoredVersion(name, versions)) is { } modelTask && modelTask != task)
                throw new ModelTaskConflictException(name, modelTask, task);
        }
        string directory = ModelDirectory(name);
        Directory.CreateDirectory(directory);
        // Before the version: a task file without versions (a first add that failed or crashed) is ignored and rewritten.
        if (recorded is null)
            await WriteAtomicAsync(Path.Combine(directory, TaskFile), System.Text.Encoding.ASCII.GetBytes(GruTaskNames.NameOf(task)), cancellationToken);
        int version = versions.Select(v => v.Version).DefaultIfEmpty(0).Max() + 1;
        var record = new StoredVersion(version, DateTimeOffset.UtcNow, sha256, new FileInfo(stagingPath).Length);
        // The record first: a version file is only listed once it is in place, and a missing record is rebuilt.
        await WriteAtomicAsync(RecordPath(name, version), JsonSerializer.SerializeToUtf8Bytes(record, StoreJson.Default.StoredVersion), cancellationToken);
        File.Move(stagingPath, ModelPath(name, version));
        return record;
    }

    /// <summary>
    /// Under the lock that adds versions, so of two identical uploads the second finds the first's version active.
    /// Every version has its SHA-256 in its record (since the first release; a missing record is rebuilt by hashing
    /// the file); a record without one, written by hand, has the file hashed here rather than count as different.
    /// </summary>
    public async Task<StoredUpload> AddActiveVersionAsync(string name, GruTask task, string stagingPath, string sha256, CancellationToken cancellationToken)
    {
        await _writes.WaitAsync(cancellationToken);
        try
        {
            int? active = ActiveVersion(name);
            if (Versions(name).FirstOrDefault(v => v.Version == active) is { } current && Sha256Of(name, current) == sha256)
                return new StoredUpload(current, Added: false);
            StoredVersion stored = await AddVersionHoldingLockAsync(name, task, stagingPath, sha256, cancellationToken);
            await WriteActiveAsync(name, stored.Version, CancellationToken.None); // the add has just checked the task
            return new StoredUpload(stored, Added: true);
        }
        finally
        {
            _writes.Release();
        }
    }

    private string Sha256Of(string name, StoredVersion version)
    {
        if (!string.IsNullOrEmpty(version.Sha256)) return version.Sha256;
        using var file = File.OpenRead(ModelPath(name, version.Version));
        return Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(file));
    }

    public async Task SetActiveVersionAsync(string name, int version, GruTask task, CancellationToken cancellationToken)
    {
        // Under the lock that adds versions and deletes models, so the task checked stays the model's until the pointer is written.
        await _writes.WaitAsync(cancellationToken);
        try
        {
            List<StoredVersion> versions = Versions(name);
            if (versions.Count > 0 && (RecordedTask(name) ?? TaskOfStoredVersion(name, versions)) is { } modelTask && modelTask != task)
                throw new ModelTaskConflictException(name, modelTask, task);
            await WriteActiveAsync(name, version, cancellationToken);
        }
        finally
        {
            _writes.Release();
        }
    }

    private Task WriteActiveAsync(string name, int version, CancellationToken cancellationToken) =>
        WriteAtomicAsync(Path.Combine(ModelDirectory(name), "active"), System.Text.Encoding.ASCII.GetBytes(version.ToString(CultureInfo.InvariantCulture)), cancellationToken);

    /// <summary>One instance uses the store, so checking under the store's lock is enough.</summary>
    public async Task<StoredVersion?> TryImportAsync(string name, GruTask task, byte[] file, string sha256, CancellationToken cancellationToken)
    {
        await _writes.WaitAsync(cancellationToken);
        try
        {
            if (Versions(name).Count > 0) return null;
            string stagingPath;
            await using (Stream staging = CreateStagingFile(out stagingPath))
            {
                await staging.WriteAsync(file, cancellationToken);
                ((FileStream)staging).Flush(flushToDisk: true);
            }
            try
            {
                StoredVersion stored = await AddVersionHoldingLockAsync(name, task, stagingPath, sha256, cancellationToken);
                await WriteActiveAsync(name, stored.Version, cancellationToken); // the add has just checked the task
                return stored;
            }
            finally
            {
                File.Delete(stagingPath); // gone already unless the add failed
            }
        }
        finally
        {
            _writes.Release();
        }
    }

    public async Task<bool> DeleteAsync(string name, CancellationToken cancellationToken)
    {
        await _writes.WaitAsync(cancellationToken);
        try
        {
            string directory = ModelDirectory(name);
            if (!Directory.Exists(directory)) return false;
            // One rename makes the model disappear at once; the files are removed afterwards.
            string doomed = Path.Combine(_staging, $"{DeletedPrefix}{name}-{Guid.NewGuid():N}");
            Directory.Move(directory, doomed);
            Directory.Delete(doomed, recursive: true);
            return true;
        }
        finally
        {
            _writes.Release();
        }
    }

    /// <summary>Creates and removes a file in the staging area.</summary>
    public Task<string?> ProbeWritableAsync(CancellationToken cancellationToken)
    {
        string probe = Path.Combine(_staging, $"probe-{Guid.NewGuid():N}");
        try
        {
            Directory.CreateDirectory(_staging);
            using (var stream = new FileStream(probe, FileMode.CreateNew, FileAccess.Write))
                stream.WriteByte(1);
            File.Delete(probe);
            return Task.FromResult<string?>(null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return Task.FromResult<string?>($"storage root {Path.GetDirectoryName(_staging)} is not writable: {e.Message}");
        }
    }

    private string ModelDirectory(string name) => Path.Combine(_models, name);

    /// <summary>The task in the model's task file; null when there is none (a model stored by an earlier release).</summary>
    private GruTask? RecordedTask(string name)
    {
        string path = Path.Combine(ModelDirectory(name), TaskFile);
        return File.Exists(path) ? GruTaskNames.Parse(File.ReadAllText(path).Trim()) : null;
    }

    /// <summary>
    /// The task of a model stored before task files: its active version's (else its newest's), read from the file's
    /// header. Null when that cannot be read, and the version being added or activated then decides.
    /// </summary>
    private GruTask? TaskOfStoredVersion(string name, List<StoredVersion> versions)
    {
        int? active = ActiveVersion(name);
        int version = versions.Any(v => v.Version == active) ? active!.Value : versions[^1].Version;
        try
        {
            using var file = File.OpenRead(ModelPath(name, version));
            return ModelFile.ReadTask(file);
        }
        catch (ModelFileException e)
        {
            LogTaskUnreadable(name, version, e.Message);
            return null;
        }
    }

    private string ModelPath(string name, int version) => Path.Combine(ModelDirectory(name), version.ToString(CultureInfo.InvariantCulture) + ModelExtension);

    private string RecordPath(string name, int version) => Path.Combine(ModelDirectory(name), version.ToString(CultureInfo.InvariantCulture) + ".json");

    private static StoredVersion ReadRecord(string modelPath, int version)
    {
        string recordPath = Path.ChangeExtension(modelPath, ".json");
        if (File.Exists(recordPath))
        {
            try
            {
                if (JsonSerializer.Deserialize(File.ReadAllBytes(recordPath), StoreJson.Default.StoredVersion) is { } stored && stored.Version == version)
                    return stored;
            }
            catch (JsonException)
            {
                // Rebuilt from the file below.
            }
        }
        using var stream = File.OpenRead(modelPath);
        string sha = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(stream));
        return new StoredVersion(version, File.GetLastWriteTimeUtc(modelPath), sha, stream.Length);
    }

    private async Task WriteAtomicAsync(string path, byte[] content, CancellationToken cancellationToken)
    {
        string temporary = $"{path}.{Guid.NewGuid():N}{TemporaryExtension}";
        try
        {
            await using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 4096, FileOptions.Asynchronous))
            {
                await stream.WriteAsync(content, cancellationToken);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch
        {
            // A full or failing disk must not also leave a partial temporary file behind.
            TryDelete(temporary);
            throw;
        }
    }

    /// <summary>
    /// Nothing writes to the store before it is constructed, so any upload staging file, half-written temporary
    /// file or half-deleted model found now is what a crash left behind. None of them is ever loaded (only
    /// <c>VERSION.safetensors</c> names are), but they hold disk space.
    /// </summary>
    private void RemoveLeftovers()
    {
        foreach (string upload in Directory.EnumerateFiles(_staging, UploadPrefix + "*"))
            TryDelete(upload);
        foreach (string deleted in Directory.EnumerateDirectories(_staging, DeletedPrefix + "*"))
        {
            try
            {
                Directory.Delete(deleted, recursive: true);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                LogCleanupFailed(deleted, e.Message);
            }
        }
        foreach (string directory in Directory.EnumerateDirectories(_models))
        {
            foreach (string temporary in Directory.EnumerateFiles(directory, "*" + TemporaryExtension))
                TryDelete(temporary);
        }
    }

    private void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogCleanupFailed(path, e.Message);
        }
    }

    [LoggerMessage(LogLevel.Warning, "The task of model {Model} is not recorded and version {Version} does not say it ({Reason}); the next version stored sets it")]
    private partial void LogTaskUnreadable(string model, int version, string reason);

    [LoggerMessage(LogLevel.Warning, "Could not remove leftover temporary file {Path}: {Reason}")]
    private partial void LogCleanupFailed(string path, string reason);
}

[System.Text.Json.Serialization.JsonSerializable(typeof(StoredVersion))]
[System.Text.Json.Serialization.JsonSourceGenerationOptions(PropertyNamingPolicy = System.Text.Json.Serialization.JsonKnownNamingPolicy.SnakeCaseLower)]
internal sealed partial class StoreJson : System.Text.Json.Serialization.JsonSerializerContext;
