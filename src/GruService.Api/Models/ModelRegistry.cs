using System.Collections.Concurrent;
using System.Security.Cryptography;
using GruService.Engine;
using GruService.Engine.ModelFiles;
using Microsoft.Extensions.Options;

namespace GruService.Api.Models;

/// <summary>An upload larger than <see cref="ModelLimits.MaxFileBytes"/>.</summary>
public sealed class ModelTooLargeException(long limit) : Exception($"The model file is larger than the limit of {limit} bytes.")
{
    public long Limit { get; } = limit;
}

/// <summary>
/// A version whose task is not its model's. Every version of a model has one task, so that rolling forward or back
/// never changes the shape of its clients' requests and answers. Thrown by the registry when the model it serves has
/// another task, and by the store when the versions it holds have (another replica may have stored one first).
/// </summary>
public sealed class ModelTaskConflictException(string name, GruTask modelTask, GruTask versionTask)
    : InvalidOperationException(Explain(name, modelTask, versionTask))
{
    /// <summary>Why a new version of the other task is refused, and what to do instead.</summary>
    public static string Explain(string name, GruTask modelTask, GruTask versionTask) =>
        $"{Reason(name, modelTask, versionTask)} Use another name, or delete '{name}' first.";

    /// <summary>Why a stored version of the other task cannot be served: the advice of <see cref="Explain"/> does not apply to it.</summary>
    public string ActivationReason { get; } = Reason(name, modelTask, versionTask);

    private static string Reason(string name, GruTask modelTask, GruTask versionTask) =>
        $"Model '{name}' is a {GruTaskNames.NameOf(modelTask)} model, so a {GruTaskNames.NameOf(versionTask)} model cannot be a version of it: every " +
        "version of a model has the same task, so that its clients keep working.";
}

/// <summary>What an upload did: <paramref name="Served"/> is the model's active version, new when <paramref name="Created"/>.</summary>
/// <param name="Served">The version now served: the new one, or the active one the file already was.</param>
/// <param name="Created">False when the file was the active version's and nothing changed.</param>
public sealed record ModelUpload(ServedModel Served, bool Created);

/// <summary>
/// The singleton set of served models: for each name, its active version, fully loaded. Reads are lock-free;
/// changes (upload, activate, delete) are serialised, and each publishes a complete <see cref="ServedModel"/> in one
/// reference swap, so requests in flight finish on the version they started with and none sees a half-loaded model.
/// </summary>
public sealed partial class ModelRegistry(IModelStore store, IOptions<ModelOptions> options, ILogger<ModelRegistry> logger)
{
    private readonly ConcurrentDictionary<string, ServedModel> _active = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _changes = new(1, 1);
    private volatile bool _loaded;
    private IReadOnlySet<string> _bundled = new HashSet<string>();

    private ModelLimits Limits => options.Value.Limits;

    /// <summary>The largest model file an upload may send.</summary>
    public long MaxFileBytes => Limits.MaxFileBytes;

    /// <summary>True once the stored models have been loaded at start-up.</summary>
    public bool IsLoaded => _loaded;

    public bool TryGet(string name, out ServedModel model) => _active.TryGetValue(name, out model!);

    /// <summary>Whether a bundled default model file (Models:BundledDirectory) has this name.</summary>
    public bool IsBundled(string name) => Volatile.Read(ref _bundled).Contains(name);

    public IReadOnlyList<ServedModel> List() => [.. _active.Values.OrderBy(m => m.Name, StringComparer.Ordinal)];

    public Task<IReadOnlyList<StoredVersion>> VersionsAsync(string name, CancellationToken cancellationToken) => store.ListVersionsAsync(name, cancellationToken);

    /// <summary>Imports bundled model files the store lacks, then loads every stored model's active version.</summary>
    public async Task LoadAsync(string? bundledDirectory, CancellationToken cancellationToken)
    {
        await _changes.WaitAsync(cancellationToken);
        try
        {
            if (bundledDirectory is not null && Directory.Exists(bundledDirectory))
                await ImportBundledAsync(bundledDirectory, cancellationToken);

            foreach (string name in await store.ListModelsAsync(cancellationToken))
            {
                IReadOnlyList<StoredVersion> versions = await store.ListVersionsAsync(name, cancellationToken);
                int? version = await store.GetActiveVersionAsync(name, cancellationToken) ?? versions.LastOrDefault()?.Version;
                if (version is null) continue;
                try
                {
                    StoredVersion stored = versions.FirstOrDefault(v => v.Version == version)
                        ?? throw new InvalidOperationException($"Version {version} of '{name}' is not stored.");
                    ServedModel served = await LoadVersionAsync(name, stored, cancellationToken);
                    _active[name] = served;
                    LogLoaded(name, served.Version, served.TaskName, served.Model.ParameterCount);
                }
                catch (Exception e) when (e is ModelFileException or IOException or InvalidOperationException && e is not StorageUnavailableException)
                {
                    LogLoadFailed(e, name, version.Value, e.Message);
                }
            }
            _loaded = true;
        }
        finally
        {
            _changes.Release();
        }
    }

    /// <summary>
    /// Streams an upload to a staging file, validates it completely, then stores it as the next version and makes
    /// it active; a file identical to the active version (the same SHA-256) changes nothing, and
    /// <see cref="ModelUpload.Created"/> is false (the store decides, atomically, so of identical uploads racing through
    /// any replicas one stores a version). Throws <see cref="ModelFileException"/> (invalid file),
    /// <see cref="ModelTooLargeException"/> or <see cref="ModelTaskConflictException"/>; either way nothing changes and
    /// the previous version keeps serving.
    /// </summary>
    public async Task<ModelUpload> UploadAsync(string name, Stream body, CancellationToken cancellationToken)
    {
        Stream staging = store.CreateStagingFile(out string stagingPath);
        bool keep = false;
        try
        {
            string sha256;
            byte[] bytes;
            await using (staging)
            {
                sha256 = await CopyLimitedAsync(body, staging, Limits.MaxFileBytes, cancellationToken);
                await staging.FlushAsync(cancellationToken);
                ((FileStream)staging).Flush(flushToDisk: true);
                bytes = new byte[staging.Length];
                staging.Position = 0;
                await staging.ReadExactlyAsync(bytes, cancellationToken);
            }

            GruModel model;
            try
            {
                model = ModelFile.Read(bytes, Limits);
            }
            catch (ModelFileException e)
            {
                LogRejected(name, e.Message);
                throw;
            }

            await _changes.WaitAsync(cancellationToken);
            try
            {
                RequireServedTask(name, model);
                StoredUpload upload = await LogStoreRefusalAsync(name, store.AddActiveVersionAsync(name, model.Config.Task, stagingPath, sha256, CancellationToken.None));
                ServedModel? old = _active.GetValueOrDefault(name);
                StoredVersion stored = upload.Version;
                if (!upload.Added)
                {
                    // Nothing changed in the store. A replica a notification behind serves the stored active version
                    // now, which is this very file, as a sync would have.
                    LogUnchanged(name, stored.Version);
                    if (old is not null && old.Version == stored.Version && old.Stored.Sha256 == stored.Sha256)
                        return new ModelUpload(old, Created: false);
                    var current = new ServedModel(name, stored, model);
                    _active[name] = current;
                    LogSwapped(name, old?.Version, current.Version, "an upload identical to the stored active version");
                    return new ModelUpload(current, Created: false);
                }
                keep = true;
                var served = new ServedModel(name, stored, model);
                _active[name] = served;
                LogSwapped(name, old?.Version, served.Version, "upload");
                return new ModelUpload(served, Created: true);
            }
            finally
            {
                _changes.Release();
            }
        }
        finally
        {
            if (!keep) TryDelete(stagingPath);
        }
    }

    /// <summary>
    /// Stores a model file produced in the process (a training job's result) as the next version of
    /// <paramref name="name"/>, validated as an upload is. It is made active when <paramref name="activate"/> is set,
    /// or when the model has no active version yet.
    /// </summary>
    public async Task<ServedModel> PublishAsync(string name, byte[] file, bool activate, CancellationToken cancellationToken)
    {
        GruModel model = ModelFile.Read(file, Limits);
        await _changes.WaitAsync(cancellationToken);
        try
        {
            RequireServedTask(name, model);
            StoredVersion stored = await StoreFileAsync(name, model.Config.Task, file, cancellationToken);
            var served = new ServedModel(name, stored, model);
            int? previous = _active.TryGetValue(name, out var old) ? old.Version : null;
            if (activate || previous is null)
            {
                await store.SetActiveVersionAsync(name, stored.Version, model.Config.Task, CancellationToken.None);
                _active[name] = served;
                LogSwapped(name, previous, served.Version, "training");
            }
            return served;
        }
        finally
        {
            _changes.Release();
        }
    }

    /// <summary>
    /// Makes a stored version active (roll back or forward). Null when the model or version does not exist. Throws
    /// <see cref="ModelTaskConflictException"/>, changing nothing, when the version's task is not the model's: the one
    /// served here, or the one the store records (which also covers a model this replica does not serve, or has not
    /// synced yet).
    /// </summary>
    public async Task<ServedModel?> ActivateAsync(string name, int version, CancellationToken cancellationToken)
    {
        await _changes.WaitAsync(cancellationToken);
        try
        {
            if ((await store.ListVersionsAsync(name, cancellationToken)).FirstOrDefault(v => v.Version == version) is not { } stored) return null;
            ServedModel served = await LoadVersionAsync(name, stored, cancellationToken);
            RequireServedTask(name, served.Model);
            try
            {
                await store.SetActiveVersionAsync(name, version, served.Task, CancellationToken.None);
            }
            catch (ModelTaskConflictException e)
            {
                LogActivationRefusedByStore(name, version, e.Message);
                throw;
            }
            int? previous = _active.TryGetValue(name, out var old) ? old.Version : null;
            _active[name] = served;
            LogSwapped(name, previous, version, "activate");
            return served;
        }
        finally
        {
            _changes.Release();
        }
    }

    public async Task<bool> DeleteAsync(string name, CancellationToken cancellationToken)
    {
        await _changes.WaitAsync(cancellationToken);
        try
        {
            bool existed = await store.DeleteAsync(name, CancellationToken.None);
            existed |= _active.TryRemove(name, out _);
            if (existed) LogDeleted(name);
            return existed;
        }
        finally
        {
            _changes.Release();
        }
    }

    /// <summary>
    /// Brings the served set in line with the store after another process (a replica sharing it) changed it: each
    /// model serves its stored active version, and models no longer stored stop being served. Versions already served
    /// are not loaded again. Does nothing before <see cref="LoadAsync"/> has run, which reads the store itself.
    /// </summary>
    public async Task SyncWithStoreAsync(CancellationToken cancellationToken)
    {
        if (!_loaded) return;
        await _changes.WaitAsync(cancellationToken);
        try
        {
            var stored = new HashSet<string>(await store.ListModelsAsync(cancellationToken), StringComparer.Ordinal);
            foreach (string name in _active.Keys.Where(name => !stored.Contains(name)).ToList())
            {
                if (_active.TryRemove(name, out _)) LogDeleted(name);
            }
            foreach (string name in stored)
            {
                IReadOnlyList<StoredVersion> versions = await store.ListVersionsAsync(name, cancellationToken);
                int? target = await store.GetActiveVersionAsync(name, cancellationToken) ?? versions.LastOrDefault()?.Version;
                StoredVersion? wanted = versions.FirstOrDefault(v => v.Version == target);
                if (wanted is null) continue;
                ServedModel? current = _active.GetValueOrDefault(name);
                // The same number can name another file after a model was deleted and uploaded again.
                if (current is not null && current.Version == wanted.Version && current.Stored.Sha256 == wanted.Sha256) continue;
                try
                {
                    ServedModel served = await LoadVersionAsync(name, wanted, cancellationToken);
                    _active[name] = served;
                    LogSwapped(name, current?.Version, served.Version, "a change by another replica");
                }
                catch (Exception e) when (e is ModelFileException or InvalidOperationException)
                {
                    LogLoadFailed(e, name, wanted.Version, e.Message);
                }
            }
        }
        finally
        {
            _changes.Release();
        }
    }

    /// <summary>
    /// Why a model of <paramref name="task"/> cannot be a version of <paramref name="name"/> (which serves another
    /// task), or null when it can. Training jobs ask before they are queued; the registry asks again when it stores,
    /// and the store itself refuses the version if another replica stored one of another task meanwhile.
    /// </summary>
    public string? TaskConflict(string name, GruTask task) =>
        OtherServedTask(name, task) is { } served ? ModelTaskConflictException.Explain(name, served, task) : null;

    /// <summary>The task <paramref name="name"/> serves when it is not <paramref name="task"/>; null when it is, or nothing is served.</summary>
    private GruTask? OtherServedTask(string name, GruTask task) =>
        _active.TryGetValue(name, out ServedModel? served) && served.Task != task ? served.Task : null;

    /// <summary>
    /// Throws <see cref="ModelTaskConflictException"/> when <paramref name="name"/> serves a model of another task: the
    /// fast path, which answers without touching the store. What it cannot see (a version another replica stored
    /// since this one last synced) the store refuses.
    /// </summary>
    private void RequireServedTask(string name, GruModel model)
    {
        if (OtherServedTask(name, model.Config.Task) is { } served)
            throw new ModelTaskConflictException(name, served, model.Config.Task);
    }

    /// <summary>A store's write of a new version of <paramref name="name"/>, which the store refuses, changing nothing, when its model has another task: logged, then thrown on.</summary>
    private async Task<T> LogStoreRefusalAsync<T>(string name, Task<T> storing)
    {
        try
        {
            return await storing;
        }
        catch (ModelTaskConflictException e)
        {
            LogRefusedByStore(name, e.Message);
            throw;
        }
    }

    /// <summary>
    /// Reads and validates a stored version; the caller has its record from the listing it chose it in. Stored versions
    /// are read as stored (<see cref="ModelFile.ReadStored"/>): a version accepted by an earlier release keeps loading.
    /// </summary>
    private async Task<ServedModel> LoadVersionAsync(string name, StoredVersion stored, CancellationToken cancellationToken)
    {
        byte[] bytes = await store.ReadAsync(name, stored.Version, cancellationToken);
        return new ServedModel(name, stored, ModelFile.ReadStored(bytes, Limits));
    }

    private async Task ImportBundledAsync(string directory, CancellationToken cancellationToken)
    {
        string[] files = [.. Directory.EnumerateFiles(directory, "*.safetensors").Order(StringComparer.Ordinal)];
        Volatile.Write(ref _bundled, files.Select(file => Path.GetFileNameWithoutExtension(file)).Where(ModelName.IsValid).ToHashSet(StringComparer.Ordinal));
        foreach (string file in files)
        {
            string name = Path.GetFileNameWithoutExtension(file);
            if (!ModelName.IsValid(name) || (await store.ListVersionsAsync(name, cancellationToken)).Count > 0) continue;
            try
            {
                byte[] bytes = await File.ReadAllBytesAsync(file, cancellationToken);
                GruModel model = ModelFile.Read(bytes, Limits);
                if (await store.TryImportAsync(name, model.Config.Task, bytes, Convert.ToHexStringLower(SHA256.HashData(bytes)), cancellationToken) is not null)
                    LogImported(name, file);
            }
            catch (ModelFileException e)
            {
                LogRejected(name, $"bundled file {file}: {e.Message}");
            }
        }
    }

    /// <summary>Writes a whole file through the staging area into the store as the next version (not activated).</summary>
    private async Task<StoredVersion> StoreFileAsync(string name, GruTask task, byte[] bytes, CancellationToken cancellationToken)
    {
        Stream staging = store.CreateStagingFile(out string stagingPath);
        try
        {
            await using (staging)
            {
                await staging.WriteAsync(bytes, cancellationToken);
                ((FileStream)staging).Flush(flushToDisk: true);
            }
            return await LogStoreRefusalAsync(name, store.AddVersionAsync(name, task, stagingPath, Convert.ToHexStringLower(SHA256.HashData(bytes)), CancellationToken.None));
        }
        catch
        {
            TryDelete(stagingPath);
            throw;
        }
    }

    private static async Task<string> CopyLimitedAsync(Stream source, Stream destination, long limit, CancellationToken cancellationToken)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        byte[] buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            long total = 0;
            int read;
            while ((read = await source.ReadAsync(buffer, cancellationToken)) > 0)
            {
                total += read;
                if (total > limit) throw new ModelTooLargeException(limit);
                hash.AppendData(buffer, 0, read);
                await destination.WriteAsync(buffer.AsMemory(0, read), cancellationToken);
            }
            return Convert.ToHexStringLower(hash.GetHashAndReset());
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
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

    [LoggerMessage(LogLevel.Information, "Loaded model {Model} version {Version} ({Task}, {Parameters} parameters)")]
    private partial void LogLoaded(string model, int version, string task, long parameters);

    [LoggerMessage(LogLevel.Error, "Could not load model {Model} version {Version}: {Reason}")]
    private partial void LogLoadFailed(Exception exception, string model, int version, string reason);

    [LoggerMessage(LogLevel.Warning, "Rejected model file for {Model}: {Reason}")]
    private partial void LogRejected(string model, string reason);

    [LoggerMessage(LogLevel.Information, "Model {Model} now serves version {Version} (was {PreviousVersion}) after {Change}")]
    private partial void LogSwapped(string model, int? previousVersion, int version, string change);

    [LoggerMessage(LogLevel.Information, "The store refused a new version of {Model} that the served set allowed (another replica stored a version of the other task first, or the model is not served here): {Reason}")]
    private partial void LogRefusedByStore(string model, string reason);

    [LoggerMessage(LogLevel.Information, "The store refused to activate version {Version} of {Model}, which the served set allowed (the model is not served here, or another replica changed it since this one last synced): {Reason}")]
    private partial void LogActivationRefusedByStore(string model, int version, string reason);

    [LoggerMessage(Level = LogLevel.Information, EventName = "UploadUnchanged",
        Message = "Upload of model {Model} is unchanged: the file is its active version {Version}, so no version was stored")]
    private partial void LogUnchanged(string model, int version);

    [LoggerMessage(LogLevel.Information, "Deleted model {Model} and all its versions")]
    private partial void LogDeleted(string model);

    [LoggerMessage(LogLevel.Information, "Imported bundled model {Model} from {File}")]
    private partial void LogImported(string model, string file);

    [LoggerMessage(LogLevel.Warning, "Could not remove staging file {Path}: {Reason}")]
    private partial void LogCleanupFailed(string path, string reason);
}
