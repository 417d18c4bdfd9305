using System.Collections.Concurrent;
using GruService.Api.Datasets;
using GruService.Api.Models;
using GruService.Api.Training;
using GruService.Engine;
using GruService.Engine.Training;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace GruService.Api.Tests.StorageFaults;

public enum StorageFaultKind
{
    None,

    /// <summary>ENOSPC: the file system has no room left.</summary>
    DiskFull,

    /// <summary>EROFS: the file system was remounted read-only (as Linux does after an I/O error).</summary>
    ReadOnly,
}

/// <summary>Which of the stores a fault affects.</summary>
[Flags]
public enum StorageFaultTargets
{
    Models = 1,
    Datasets = 2,
    JobRecords = 4,
    Checkpoints = 8,
    All = Models | Datasets | JobRecords | Checkpoints,
}

/// <summary>
/// The exceptions .NET on Linux throws for a failed write: the errno becomes the HResult of a plain
/// <see cref="IOException"/> and the message is strerror followed by the path. The tests on a real tmpfs (see
/// <see cref="RealFileSystemFaultTests"/>) check that the service reports the real ones as it reports these.
/// </summary>
public static class OsErrors
{
    public const int NoSpace = 28; // ENOSPC
    public const int ReadOnlyFileSystem = 30; // EROFS

    public static IOException DiskFull(string path) => new($"No space left on device : '{path}'", NoSpace);

    public static IOException ReadOnly(string path) => new($"Read-only file system : '{path}'", ReadOnlyFileSystem);

    public static IOException For(StorageFaultKind kind, string path) => kind switch
    {
        StorageFaultKind.DiskFull => DiskFull(path),
        StorageFaultKind.ReadOnly => ReadOnly(path),
        _ => throw new ArgumentOutOfRangeException(nameof(kind)),
    };

    /// <summary>What SQLite reports for the same fault, translated as <see cref="SqliteJobStore"/> translates it.</summary>
    public static StorageUnavailableException ForJobStore(StorageFaultKind kind) => SqliteJobStore.AsStorageFailure(kind == StorageFaultKind.DiskFull
        ? new SqliteException("SQLite Error 13: 'database or disk is full'.", 13)
        : new SqliteException("SQLite Error 8: 'attempt to write a readonly database'.", 8))!;
}

/// <summary>
/// The fault a test has switched on, shared by the faulty decorators around one host's real stores. Reads are never
/// affected: a full or read-only file system still reads.
/// </summary>
public sealed class StorageFaultSwitch
{
    private volatile StorageFaultKind _kind;
    private volatile StorageFaultTargets _targets = StorageFaultTargets.All;

    /// <summary>How many bytes a file being written under <see cref="StorageFaultKind.DiskFull"/> takes before the disk is full.</summary>
    public int BytesBeforeFull { get; init; } = 1024;

    public void Set(StorageFaultKind kind, StorageFaultTargets targets = StorageFaultTargets.All)
    {
        _targets = targets;
        _kind = kind;
    }

    public void Clear() => _kind = StorageFaultKind.None;

    public StorageFaultKind For(StorageFaultTargets target) => (_targets & target) != 0 ? _kind : StorageFaultKind.None;

    public void ThrowIfFaulted(StorageFaultTargets target, string path)
    {
        StorageFaultKind kind = For(target);
        if (kind != StorageFaultKind.None) throw OsErrors.For(kind, path);
    }

    /// <summary>Wraps the application's File-provider stores in the faulty decorators, switched by this.</summary>
    public void Install(IServiceCollection services)
    {
        services.AddSingleton(this);
        services.AddSingleton(provider => ActivatorUtilities.CreateInstance<FileModelStore>(provider));
        services.AddSingleton<IModelStore>(provider => new FaultyModelStore(provider.GetRequiredService<FileModelStore>(), this));
        services.AddSingleton(provider => ActivatorUtilities.CreateInstance<FileDatasetStore>(provider));
        services.AddSingleton<IDatasetStore>(provider => new FaultyDatasetStore(provider.GetRequiredService<FileDatasetStore>(), this));
        services.AddSingleton(provider => ActivatorUtilities.CreateInstance<SqliteJobStore>(provider));
        services.AddSingleton<IJobStore>(provider => new FaultyJobStore(provider.GetRequiredService<SqliteJobStore>(), this));
    }
}

/// <summary>
/// A real file that takes <paramref name="bytesBeforeFull"/> bytes and then fails as a full disk does: the write that
/// crosses the limit stores what fits and throws ENOSPC, and so does every later one. A <see cref="FileStream"/>,
/// as the stores' own files are, so code that flushes it to disk works unchanged.
/// </summary>
public sealed class DiskFullFileStream(string path, int bytesBeforeFull)
    : FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.None, 1, FileOptions.None)
{
    private long _room = bytesBeforeFull;

    // Every overload ends here, and only the array overload of the base is called: FileStream sends a derived
    // class's span and memory overloads back through the array one, so calling those would recurse.
    public override void Write(byte[] buffer, int offset, int count)
    {
        int fits = (int)Math.Min(_room, count);
        base.Write(buffer, offset, fits);
        _room -= fits;
        if (fits < count) throw OsErrors.DiskFull(Name);
    }

    public override void Write(ReadOnlySpan<byte> buffer) => Write(buffer.ToArray(), 0, buffer.Length);

    public override void WriteByte(byte value) => Write([value], 0, 1);

    public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        Write(buffer.ToArray(), 0, buffer.Length);
        return ValueTask.CompletedTask;
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        Write(buffer, offset, count);
        return Task.CompletedTask;
    }

    /// <summary>Reopens a file a real store has just created, to fill it up.</summary>
    public static DiskFullFileStream Replacing(Stream created, int bytesBeforeFull)
    {
        string path = ((FileStream)created).Name;
        created.Dispose();
        return new DiskFullFileStream(path, bytesBeforeFull);
    }
}

/// <summary>The real <see cref="FileModelStore"/>, whose writes fail as the switched-on fault makes them fail.</summary>
public sealed class FaultyModelStore(FileModelStore inner, StorageFaultSwitch faults) : IModelStore
{
    public Task<IReadOnlyList<string>> ListModelsAsync(CancellationToken cancellationToken) => inner.ListModelsAsync(cancellationToken);

    public Task<IReadOnlyList<StoredVersion>> ListVersionsAsync(string name, CancellationToken cancellationToken) => inner.ListVersionsAsync(name, cancellationToken);

    public Task<int?> GetActiveVersionAsync(string name, CancellationToken cancellationToken) => inner.GetActiveVersionAsync(name, cancellationToken);

    public Task<byte[]> ReadAsync(string name, int version, CancellationToken cancellationToken) => inner.ReadAsync(name, version, cancellationToken);

    public Stream CreateStagingFile(out string stagingPath)
    {
        switch (faults.For(StorageFaultTargets.Models))
        {
            case StorageFaultKind.ReadOnly:
                throw OsErrors.ReadOnly("tmp/upload");
            case StorageFaultKind.DiskFull:
                return DiskFullFileStream.Replacing(inner.CreateStagingFile(out stagingPath), faults.BytesBeforeFull);
            default:
                return inner.CreateStagingFile(out stagingPath);
        }
    }

    public Task<StoredVersion> AddVersionAsync(string name, GruTask task, string stagingPath, string sha256, CancellationToken cancellationToken)
    {
        faults.ThrowIfFaulted(StorageFaultTargets.Models, $"models/{name}");
        return inner.AddVersionAsync(name, task, stagingPath, sha256, cancellationToken);
    }

    public Task<StoredUpload> AddActiveVersionAsync(string name, GruTask task, string stagingPath, string sha256, CancellationToken cancellationToken)
    {
        faults.ThrowIfFaulted(StorageFaultTargets.Models, $"models/{name}");
        return inner.AddActiveVersionAsync(name, task, stagingPath, sha256, cancellationToken);
    }

    public Task SetActiveVersionAsync(string name, int version, GruTask task, CancellationToken cancellationToken)
    {
        faults.ThrowIfFaulted(StorageFaultTargets.Models, $"models/{name}/active");
        return inner.SetActiveVersionAsync(name, version, task, cancellationToken);
    }

    public Task<StoredVersion?> TryImportAsync(string name, GruTask task, byte[] file, string sha256, CancellationToken cancellationToken)
    {
        faults.ThrowIfFaulted(StorageFaultTargets.Models, $"models/{name}");
        return inner.TryImportAsync(name, task, file, sha256, cancellationToken);
    }

    public Task<bool> DeleteAsync(string name, CancellationToken cancellationToken)
    {
        // Deleting frees space, so only a read-only file system refuses it.
        if (faults.For(StorageFaultTargets.Models) == StorageFaultKind.ReadOnly) throw OsErrors.ReadOnly($"models/{name}");
        return inner.DeleteAsync(name, cancellationToken);
    }

    public Task<string?> ProbeWritableAsync(CancellationToken cancellationToken)
    {
        StorageFaultKind kind = faults.For(StorageFaultTargets.Models);
        if (kind == StorageFaultKind.None) return inner.ProbeWritableAsync(cancellationToken);
        return Task.FromResult<string?>($"storage root is not writable: {OsErrors.For(kind, "tmp/probe").Message}");
    }
}

/// <summary>The real <see cref="FileDatasetStore"/>, whose uploads fail as the switched-on fault makes them fail.</summary>
public sealed class FaultyDatasetStore(FileDatasetStore inner, StorageFaultSwitch faults) : IDatasetStore
{
    public IDatasetUpload BeginUpload()
    {
        if (faults.For(StorageFaultTargets.Datasets) == StorageFaultKind.ReadOnly) throw OsErrors.ReadOnly("tmp/dataset-upload");
        return new Upload(inner.BeginUpload(), faults);
    }

    public Task<IReadOnlyList<DatasetRecord>> ListAsync(CancellationToken cancellationToken) => inner.ListAsync(cancellationToken);

    public Task<DatasetRecord?> GetAsync(string id, CancellationToken cancellationToken) => inner.GetAsync(id, cancellationToken);

    public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken) => inner.DeleteAsync(id, cancellationToken);

    public Task<TimeSeriesData> LoadTimeSeriesAsync(string id, CancellationToken cancellationToken) => inner.LoadTimeSeriesAsync(id, cancellationToken);

    public Task<SequenceData> LoadSequencesAsync(string id, CancellationToken cancellationToken) => inner.LoadSequencesAsync(id, cancellationToken);

    private sealed class Upload(IDatasetUpload upload, StorageFaultSwitch faults) : IDatasetUpload
    {
        public string Id => upload.Id;

        public Stream CreateFile(string name)
        {
            Stream created = upload.CreateFile(name);
            return faults.For(StorageFaultTargets.Datasets) switch
            {
                StorageFaultKind.DiskFull => DiskFullFileStream.Replacing(created, faults.BytesBeforeFull),
                StorageFaultKind.ReadOnly => throw OsErrors.ReadOnly(name),
                _ => created,
            };
        }

        public Task<DatasetRecord> CommitAsync(DatasetRecord record, CancellationToken cancellationToken)
        {
            faults.ThrowIfFaulted(StorageFaultTargets.Datasets, "dataset.json");
            return upload.CommitAsync(record, cancellationToken);
        }

        public ValueTask DisposeAsync() => upload.DisposeAsync();
    }
}

/// <summary>
/// The real <see cref="SqliteJobStore"/>. Writes of job records fail as SQLite fails on such a file system
/// (translated as the store translates them); checkpoint files fail as files do.
/// </summary>
public sealed class FaultyJobStore(SqliteJobStore inner, StorageFaultSwitch faults) : IJobStore
{
    public Task<bool> TryEnqueueAsync(TrainingJob job, int capacity, CancellationToken cancellationToken)
    {
        ThrowIfRecordsFaulted();
        return inner.TryEnqueueAsync(job, capacity, cancellationToken);
    }

    public Task<TrainingJob?> GetAsync(string id, CancellationToken cancellationToken) => inner.GetAsync(id, cancellationToken);

    public Task<JobPage> ListAsync(string? status, int limit, JobCursor? after, CancellationToken cancellationToken) => inner.ListAsync(status, limit, after, cancellationToken);

    public IReadOnlyDictionary<string, long> CountByStatus() => inner.CountByStatus();

    public Task<TrainingJob?> RequestCancelAsync(string id, CancellationToken cancellationToken)
    {
        ThrowIfRecordsFaulted();
        return inner.RequestCancelAsync(id, cancellationToken);
    }

    public Task<JobClaim?> TryClaimNextAsync(string worker, TimeSpan lease, CancellationToken cancellationToken)
    {
        ThrowIfRecordsFaulted();
        return inner.TryClaimNextAsync(worker, lease, cancellationToken);
    }

    public Task<LeaseState> RenewLeaseAsync(string id, string worker, TimeSpan lease, CancellationToken cancellationToken) =>
        inner.RenewLeaseAsync(id, worker, lease, cancellationToken);

    public Task ReleaseLeaseAsync(string id, string worker, CancellationToken cancellationToken) => inner.ReleaseLeaseAsync(id, worker, cancellationToken);

    public Task<TrainingJob?> UpdateClaimedAsync(string id, string worker, Func<TrainingJob, TrainingJob> change, CancellationToken cancellationToken)
    {
        ThrowIfRecordsFaulted();
        return inner.UpdateClaimedAsync(id, worker, change, cancellationToken);
    }

    /// <summary>For each checkpoint saved, whether it was saved on a thread-pool thread (the trainer's callbacks save them).</summary>
    public ConcurrentQueue<bool> CheckpointsSavedOnThreadPool { get; } = new();

    public Task<bool> SaveCheckpointAsync(string id, string worker, TrainingCheckpoint checkpoint, CancellationToken cancellationToken)
    {
        CheckpointsSavedOnThreadPool.Enqueue(Thread.CurrentThread.IsThreadPoolThread);
        faults.ThrowIfFaulted(StorageFaultTargets.Checkpoints, $"jobs/{id}/checkpoint.bin");
        return inner.SaveCheckpointAsync(id, worker, checkpoint, cancellationToken);
    }

    public Task<TrainingCheckpoint?> LoadCheckpointAsync(string id, CancellationToken cancellationToken) => inner.LoadCheckpointAsync(id, cancellationToken);

    public Task DeleteCheckpointAsync(string id, CancellationToken cancellationToken) => inner.DeleteCheckpointAsync(id, cancellationToken);

    public Task<TrainingJob?> DeleteAsync(string id, CancellationToken cancellationToken)
    {
        ThrowIfRecordsFaulted();
        return inner.DeleteAsync(id, cancellationToken);
    }

    private void ThrowIfRecordsFaulted()
    {
        StorageFaultKind kind = faults.For(StorageFaultTargets.JobRecords);
        if (kind != StorageFaultKind.None) throw OsErrors.ForJobStore(kind);
    }
}
