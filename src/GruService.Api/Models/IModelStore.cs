using GruService.Engine;

namespace GruService.Api.Models;

/// <summary>One stored version of a model file.</summary>
public sealed record StoredVersion(int Version, DateTimeOffset CreatedAt, string Sha256, long SizeBytes);

/// <summary>What <see cref="IModelStore.AddActiveVersionAsync"/> did: the active version, and whether it is a new one.</summary>
/// <param name="Version">The new version, or the active version the file already was.</param>
/// <param name="Added">False when the file was the active version's already and nothing changed.</param>
public sealed record StoredUpload(StoredVersion Version, bool Added);

/// <summary>
/// Durable model files and which version of each is active. Implementations make every change atomic:
/// a crash leaves either the old state or the new one, never a half-written file that loads.
/// <see cref="FileModelStore"/> serves one instance; <see cref="Storage.Postgres.PostgresModelStore"/> any number of replicas.
/// </summary>
public interface IModelStore
{
    Task<IReadOnlyList<string>> ListModelsAsync(CancellationToken cancellationToken);

    /// <summary>Versions of <paramref name="name"/>, oldest first; empty when the model does not exist.</summary>
    Task<IReadOnlyList<StoredVersion>> ListVersionsAsync(string name, CancellationToken cancellationToken);

    Task<int?> GetActiveVersionAsync(string name, CancellationToken cancellationToken);

    Task<byte[]> ReadAsync(string name, int version, CancellationToken cancellationToken);

    /// <summary>A new file in the store's staging area for an upload to be written to before it is validated.</summary>
    Stream CreateStagingFile(out string stagingPath);

    /// <summary>
    /// Moves a validated staging file, a model of <paramref name="task"/>, in as the next version of <paramref name="name"/>
    /// (not yet active). Throws <see cref="ModelTaskConflictException"/> when the model's stored versions have another task,
    /// changing nothing and leaving the staging file to the caller: the check and the numbering are one atomic step for
    /// every process sharing the store, so of two racing adds of different tasks to one name only the first is stored.
    /// </summary>
    Task<StoredVersion> AddVersionAsync(string name, GruTask task, string stagingPath, string sha256, CancellationToken cancellationToken);

    /// <summary>
    /// An upload: moves a validated staging file in as the next version of <paramref name="name"/> and makes it active,
    /// as <see cref="AddVersionAsync"/> then <see cref="SetActiveVersionAsync"/> would, unless the model's active version
    /// is the same file (its SHA-256 is <paramref name="sha256"/>): then nothing changes, the staging file is left to the
    /// caller, and the active version is returned with <see cref="StoredUpload.Added"/> false. Only the active version is
    /// compared: a file equal to an older version is a new version, as a rollback by upload is a change to record. The
    /// comparison, the numbering and the activation are one atomic step for every process sharing the store, so of two
    /// identical uploads racing to one name only the first stores a version. Throws <see cref="ModelTaskConflictException"/>
    /// as <see cref="AddVersionAsync"/> does.
    /// </summary>
    Task<StoredUpload> AddActiveVersionAsync(string name, GruTask task, string stagingPath, string sha256, CancellationToken cancellationToken);

    /// <summary>
    /// Makes <paramref name="version"/>, a model of <paramref name="task"/>, the active version of <paramref name="name"/>.
    /// Throws <see cref="ModelTaskConflictException"/> when the store knows the model's task and it is another, changing
    /// nothing: the check and the change are one atomic step for every process sharing the store, as for
    /// <see cref="AddVersionAsync"/>, so no replica can serve a version of the other task whatever it has seen so far.
    /// </summary>
    Task SetActiveVersionAsync(string name, int version, GruTask task, CancellationToken cancellationToken);

    /// <summary>
    /// Stores a validated file as the first version of <paramref name="name"/> and activates it, unless the model has a
    /// version already (null then): atomic for every process sharing the store, so replicas starting together import a
    /// bundled model once.
    /// </summary>
    Task<StoredVersion?> TryImportAsync(string name, GruTask task, byte[] file, string sha256, CancellationToken cancellationToken);

    Task<bool> DeleteAsync(string name, CancellationToken cancellationToken);

    /// <summary>Whether the store can be written right now (readiness): null when it can, else what is wrong.</summary>
    Task<string?> ProbeWritableAsync(CancellationToken cancellationToken);
}
