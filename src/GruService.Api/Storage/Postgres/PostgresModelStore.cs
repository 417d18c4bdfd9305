using GruService.Api.Models;
using GruService.Engine;
using Microsoft.Extensions.Options;
using Npgsql;

namespace GruService.Api.Storage.Postgres;

/// <summary>
/// Model files in PostgreSQL, shared by every replica: each version a row with the file as bytea, each model's
/// active version and task columns of its row. Every change bumps the model_changes counter and notifies
/// <see cref="PostgresSchema.ModelChangesChannel"/> in its own transaction, so the other replicas load it
/// (<see cref="PostgresChangeListener"/>). Uploads are staged in a local file while they are validated.
/// </summary>
public sealed class PostgresModelStore(PostgresDatabase database, IOptions<StorageOptions> options) : IModelStore
{
    private readonly string _staging = Path.Combine(Path.GetFullPath(options.Value.Root), "tmp");

    public Task<IReadOnlyList<string>> ListModelsAsync(CancellationToken cancellationToken) => database.RunAsync<IReadOnlyList<string>>(async connection =>
    {
        await using var command = new NpgsqlCommand(
            "SELECT name FROM models m WHERE EXISTS (SELECT 1 FROM model_versions v WHERE v.name = m.name) ORDER BY name COLLATE \"C\"", connection);
        await using NpgsqlDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
        var names = new List<string>();
        while (await reader.ReadAsync(cancellationToken)) names.Add(reader.GetString(0));
        return names;
    }, cancellationToken);

    public Task<IReadOnlyList<StoredVersion>> ListVersionsAsync(string name, CancellationToken cancellationToken) =>
        database.RunAsync<IReadOnlyList<StoredVersion>>(async connection =>
        {
            await using var command = new NpgsqlCommand("SELECT version, created_at, sha256, size_bytes FROM model_versions WHERE name = $1 ORDER BY version", connection)
            {
                Parameters = { new() { Value = name } },
            };
            await using NpgsqlDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
            var versions = new List<StoredVersion>();
            while (await reader.ReadAsync(cancellationToken))
                versions.Add(new StoredVersion(reader.GetInt32(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetString(2), reader.GetInt64(3)));
            return versions;
        }, cancellationToken);

    public Task<int?> GetActiveVersionAsync(string name, CancellationToken cancellationToken) => database.RunAsync(async connection =>
    {
        await using var command = new NpgsqlCommand("SELECT active_version FROM models WHERE name = $1", connection) { Parameters = { new() { Value = name } } };
        return await command.ExecuteScalarAsync(cancellationToken) is int version ? version : (int?)null;
    }, cancellationToken);

    public Task<byte[]> ReadAsync(string name, int version, CancellationToken cancellationToken) => database.RunAsync(async connection =>
    {
        await using var command = new NpgsqlCommand("SELECT content FROM model_versions WHERE name = $1 AND version = $2", connection)
        {
            Parameters = { new() { Value = name }, new() { Value = version } },
        };
        return await command.ExecuteScalarAsync(cancellationToken) as byte[]
            ?? throw new InvalidOperationException($"Version {version} of '{name}' is not stored.");
    }, cancellationToken);

    public Stream CreateStagingFile(out string stagingPath)
    {
        Directory.CreateDirectory(_staging);
        stagingPath = Path.Combine(_staging, $"upload-{Guid.NewGuid():N}");
        return new FileStream(stagingPath, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16, FileOptions.Asynchronous);
    }

    public async Task<StoredVersion> AddVersionAsync(string name, GruTask task, string stagingPath, string sha256, CancellationToken cancellationToken)
    {
        StoredVersion stored = await database.InTransactionAsync(async (connection, transaction) =>
        {
            int version = await NextVersionAsync(connection, transaction, name, task, cancellationToken);
            await using var file = new FileStream(stagingPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var record = new StoredVersion(version, DateTimeOffset.UtcNow, sha256, file.Length);
            await using var insert = new NpgsqlCommand(
                "INSERT INTO model_versions (name, version, created_at, sha256, size_bytes, content) VALUES ($1, $2, $3, $4, $5, $6)", connection, transaction)
            {
                // The file streams into the row rather than through a byte array.
                Parameters =
                {
                    new() { Value = name }, new() { Value = version }, new() { Value = record.CreatedAt }, new() { Value = sha256 },
                    new() { Value = record.SizeBytes }, new() { Value = file, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bytea, Size = checked((int)file.Length) },
                },
            };
            await insert.ExecuteNonQueryAsync(cancellationToken);
            await NotifyChangeAsync(connection, transaction, name, cancellationToken);
            return record;
        }, cancellationToken);
        File.Delete(stagingPath);
        return stored;
    }

    /// <summary>
    /// Creates the model's row if needed and locks it, as the activation does, so that two replicas uploading one file
    /// at once take turns: the second finds the first's version active and stores nothing. sha256 has been NOT NULL
    /// since the first schema, so every stored version, whichever release stored it, is compared by its hash. When the
    /// file is the active version's, the transaction writes nothing and notifies no replica.
    /// </summary>
    public async Task<StoredUpload> AddActiveVersionAsync(string name, GruTask task, string stagingPath, string sha256, CancellationToken cancellationToken)
    {
        StoredUpload upload = await database.InTransactionAsync(async (connection, transaction) =>
        {
            // The row first (a new model's, without a task yet: the add records it), so that there is a row to lock
            // even for a model's first version; a concurrent creator's insert makes this one wait for its commit.
            await using (var create = new NpgsqlCommand("INSERT INTO models (name) VALUES ($1) ON CONFLICT DO NOTHING", connection, transaction) { Parameters = { new() { Value = name } } })
                await create.ExecuteNonQueryAsync(cancellationToken);
            await using (var active = new NpgsqlCommand("SELECT active_version FROM models WHERE name = $1 FOR UPDATE", connection, transaction) { Parameters = { new() { Value = name } } })
            {
                if (await active.ExecuteScalarAsync(cancellationToken) is int activeVersion)
                {
                    await using var current = new NpgsqlCommand(
                        "SELECT version, created_at, sha256, size_bytes FROM model_versions WHERE name = $1 AND version = $2", connection, transaction)
                    {
                        Parameters = { new() { Value = name }, new() { Value = activeVersion } },
                    };
                    await using NpgsqlDataReader reader = await current.ExecuteReaderAsync(cancellationToken);
                    if (await reader.ReadAsync(cancellationToken) && reader.GetString(2) == sha256)
                        return new StoredUpload(new StoredVersion(reader.GetInt32(0), reader.GetFieldValue<DateTimeOffset>(1), reader.GetString(2), reader.GetInt64(3)), Added: false);
                }
            }
            int version = await NextVersionAsync(connection, transaction, name, task, cancellationToken);
            await using var file = new FileStream(stagingPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.Asynchronous | FileOptions.SequentialScan);
            var record = new StoredVersion(version, DateTimeOffset.UtcNow, sha256, file.Length);
            await using (var insert = new NpgsqlCommand(
                "INSERT INTO model_versions (name, version, created_at, sha256, size_bytes, content) VALUES ($1, $2, $3, $4, $5, $6)", connection, transaction)
            {
                Parameters =
                {
                    new() { Value = name }, new() { Value = version }, new() { Value = record.CreatedAt }, new() { Value = sha256 },
                    new() { Value = record.SizeBytes }, new() { Value = file, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bytea, Size = checked((int)file.Length) },
                },
            })
                await insert.ExecuteNonQueryAsync(cancellationToken);
            // NextVersionAsync has checked the task against the model's and recorded it, under the row's lock.
            await using (var activate = new NpgsqlCommand("UPDATE models SET active_version = $2 WHERE name = $1", connection, transaction)
            {
                Parameters = { new() { Value = name }, new() { Value = version } },
            })
                await activate.ExecuteNonQueryAsync(cancellationToken);
            await NotifyChangeAsync(connection, transaction, name, cancellationToken);
            return new StoredUpload(record, Added: true);
        }, cancellationToken);
        if (upload.Added) File.Delete(stagingPath);
        return upload;
    }

    public async Task<StoredVersion?> TryImportAsync(string name, GruTask task, byte[] file, string sha256, CancellationToken cancellationToken) =>
        await database.InTransactionAsync(async (connection, transaction) =>
        {
            await using (var create = new NpgsqlCommand("INSERT INTO models (name) VALUES ($1) ON CONFLICT DO NOTHING", connection, transaction) { Parameters = { new() { Value = name } } })
                await create.ExecuteNonQueryAsync(cancellationToken);
            // The row lock makes replicas starting together import the file once between them.
            await using (var existing = new NpgsqlCommand("SELECT last_version FROM models WHERE name = $1 FOR UPDATE", connection, transaction) { Parameters = { new() { Value = name } } })
                if ((int)(await existing.ExecuteScalarAsync(cancellationToken))! > 0) return null;
            int version = await NextVersionAsync(connection, transaction, name, task, cancellationToken);
            var record = new StoredVersion(version, DateTimeOffset.UtcNow, sha256, file.Length);
            await using (var insert = new NpgsqlCommand(
                "INSERT INTO model_versions (name, version, created_at, sha256, size_bytes, content) VALUES ($1, $2, $3, $4, $5, $6)", connection, transaction)
            {
                Parameters = { new() { Value = name }, new() { Value = version }, new() { Value = record.CreatedAt }, new() { Value = sha256 }, new() { Value = record.SizeBytes }, new() { Value = file } },
            })
                await insert.ExecuteNonQueryAsync(cancellationToken);
            await using (var activate = new NpgsqlCommand("UPDATE models SET active_version = $2 WHERE name = $1", connection, transaction)
            {
                Parameters = { new() { Value = name }, new() { Value = version } },
            })
                await activate.ExecuteNonQueryAsync(cancellationToken);
            await NotifyChangeAsync(connection, transaction, name, cancellationToken);
            return record;
        }, cancellationToken);

    /// <summary>
    /// Locks the model's row, so that its task cannot change (a deletion and a new first version, another replica's
    /// first add to a model whose task is NULL) before commit, then refuses a version of another task, or moves the
    /// pointer and records the version's task when the model's was not known (as migration 2 took each model's task
    /// from its active version). A refusal throws before anything is written or notified: the transaction rolls back,
    /// and no replica reloads.
    /// </summary>
    public Task SetActiveVersionAsync(string name, int version, GruTask task, CancellationToken cancellationToken) =>
        database.InTransactionAsync(async (connection, transaction) =>
        {
            await using (var stored = new NpgsqlCommand("SELECT task FROM models WHERE name = $1 FOR UPDATE", connection, transaction) { Parameters = { new() { Value = name } } })
            {
                if (GruTaskNames.Parse(await stored.ExecuteScalarAsync(cancellationToken) as string) is { } modelTask && modelTask != task)
                    throw new ModelTaskConflictException(name, modelTask, task);
            }
            await using var command = new NpgsqlCommand("UPDATE models SET active_version = $2, task = coalesce(task, $3) WHERE name = $1", connection, transaction)
            {
                Parameters = { new() { Value = name }, new() { Value = version }, new() { Value = GruTaskNames.NameOf(task) } },
            };
            await command.ExecuteNonQueryAsync(cancellationToken);
            await NotifyChangeAsync(connection, transaction, name, cancellationToken);
            return true;
        }, cancellationToken);

    public Task<bool> DeleteAsync(string name, CancellationToken cancellationToken) =>
        database.InTransactionAsync(async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand("DELETE FROM models WHERE name = $1", connection, transaction) { Parameters = { new() { Value = name } } };
            bool existed = await command.ExecuteNonQueryAsync(cancellationToken) > 0;
            if (existed) await NotifyChangeAsync(connection, transaction, name, cancellationToken);
            return existed;
        }, cancellationToken);

    public async Task<string?> ProbeWritableAsync(CancellationToken cancellationToken)
    {
        try
        {
            bool readOnly = await database.RunAsync(async connection =>
            {
                await using var command = new NpgsqlCommand("SELECT pg_is_in_recovery() OR current_setting('transaction_read_only') = 'on'", connection);
                return (bool)(await command.ExecuteScalarAsync(cancellationToken))!;
            }, cancellationToken);
            return readOnly ? "the database is read-only (a standby, or default_transaction_read_only is on)" : null;
        }
        catch (StorageUnavailableException e)
        {
            return e.Message;
        }
    }

    /// <summary>
    /// The next version number of <paramref name="name"/> for a model file of <paramref name="task"/>, creating the
    /// model's row (recording its task) if needed; the row stays locked until commit. Throws
    /// <see cref="ModelTaskConflictException"/> when the model's task is another: one statement checks and numbers, so
    /// of two replicas adding versions of different tasks to one name at once, the second waits for the first's row and
    /// is refused. The caller's transaction then rolls back, leaving nothing of the refused version.
    /// </summary>
    private static async Task<int> NextVersionAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string name, GruTask task, CancellationToken cancellationToken)
    {
        await using (var command = new NpgsqlCommand("""
            INSERT INTO models (name, task, last_version) VALUES ($1, $2, 1)
            ON CONFLICT (name) DO UPDATE SET last_version = models.last_version + 1, task = coalesce(models.task, excluded.task)
            WHERE models.task IS NULL OR models.task = excluded.task
            RETURNING last_version
            """, connection, transaction) { Parameters = { new() { Value = name }, new() { Value = GruTaskNames.NameOf(task) } } })
        {
            if (await command.ExecuteScalarAsync(cancellationToken) is int version) return version;
        }
        // ON CONFLICT locked the row even though its WHERE refused the update, so its task cannot change under us.
        await using var stored = new NpgsqlCommand("SELECT task FROM models WHERE name = $1", connection, transaction) { Parameters = { new() { Value = name } } };
        GruTask modelTask = GruTaskNames.Parse(await stored.ExecuteScalarAsync(cancellationToken) as string)
            ?? throw new InvalidOperationException($"Model '{name}' refused a version but records no task.");
        throw new ModelTaskConflictException(name, modelTask, task);
    }

    /// <summary>Counts the change and notifies the other replicas; both take effect when the transaction commits.</summary>
    private static async Task NotifyChangeAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string name, CancellationToken cancellationToken)
    {
        await using var batch = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands =
            {
                new("UPDATE model_changes SET counter = counter + 1"),
                new($"SELECT pg_notify('{PostgresSchema.ModelChangesChannel}', $1)") { Parameters = { new() { Value = name } } },
            },
        };
        await batch.ExecuteNonQueryAsync(cancellationToken);
    }
}
