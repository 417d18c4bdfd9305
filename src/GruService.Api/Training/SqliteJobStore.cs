using System.Globalization;
using System.Text.Json;
using GruService.Api.Json;
using GruService.Api.Models;
using GruService.Engine.Training;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace GruService.Api.Training;

/// <summary>
/// Job records in SQLite at <c>ROOT/jobs.db</c> (write-ahead log, so the API reads while the worker writes), for a
/// single process. A record is one row: its status and times as columns to query, the rest as JSON. Checkpoints
/// are files, <c>ROOT/jobs/ID/checkpoint.bin</c>. A lease lasts as long as the process: a running job this
/// instance did not claim was left running by a previous process (stopped, or killed), and is taken over.
/// Microsoft.Data.Sqlite does its I/O synchronously (its async methods too), so every call here completes before it
/// returns a task: a local file's short writes, serialised by <c>_writes</c>.
/// </summary>
public sealed class SqliteJobStore : IJobStore
{
    private readonly string _connectionString;
    private readonly string _checkpoints;
    // SQLite takes one writer at a time; serialising ours here avoids busy retries between API and worker.
    private readonly Lock _writes = new();
    // Running jobs claimed through this instance, and by which worker; guarded by _writes.
    private readonly Dictionary<string, string> _leases = new(StringComparer.Ordinal);

    public SqliteJobStore(IOptions<StorageOptions> storage)
    {
        string root = Path.GetFullPath(storage.Value.Root);
        _checkpoints = Path.Combine(root, "jobs");
        Directory.CreateDirectory(root);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = Path.Combine(root, "jobs.db"), DefaultTimeout = 30 }.ToString();
        using SqliteConnection connection = Open();
        Execute(connection, """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            CREATE TABLE IF NOT EXISTS jobs (
                id TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                created_at TEXT NOT NULL,
                record TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
            -- The job list's pages, newest first, with and without a status.
            CREATE INDEX IF NOT EXISTS jobs_newest ON jobs (created_at, id);
            CREATE INDEX IF NOT EXISTS jobs_status_newest ON jobs (status, created_at, id);
            """);
    }

    public Task<bool> TryEnqueueAsync(TrainingJob job, int capacity, CancellationToken cancellationToken) => Task.FromResult(Guard(() =>
    {
        lock (_writes)
        {
            using SqliteConnection connection = Open();
            using SqliteTransaction transaction = connection.BeginTransaction();
            using (SqliteCommand count = connection.CreateCommand())
            {
                count.Transaction = transaction;
                count.CommandText = "SELECT COUNT(*) FROM jobs WHERE status = $status";
                count.Parameters.AddWithValue("$status", JobStatus.Queued);
                if ((long)count.ExecuteScalar()! >= capacity) return false;
            }
            using SqliteCommand command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "INSERT INTO jobs (id, status, created_at, record) VALUES ($id, $status, $created, $record)";
            command.Parameters.AddWithValue("$id", job.Id);
            command.Parameters.AddWithValue("$status", job.Status);
            command.Parameters.AddWithValue("$created", CreatedAtText(job.CreatedAt));
            command.Parameters.AddWithValue("$record", Serialize(job));
            command.ExecuteNonQuery();
            transaction.Commit();
            return true;
        }
    }));

    public Task<TrainingJob?> GetAsync(string id, CancellationToken cancellationToken) => Task.FromResult(Guard(() => Get(id)));

    public Task<JobPage> ListAsync(string? status, int limit, JobCursor? after, CancellationToken cancellationToken) => Task.FromResult(Guard(() =>
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        var where = new List<string>(2);
        if (status is not null)
        {
            where.Add("status = $status");
            command.Parameters.AddWithValue("$status", status);
        }
        if (after is not null)
        {
            // created_at is the "O" text of a UTC time, whose text order is its time order; so is the cursor's.
            where.Add("(created_at, id) < ($created, $id)");
            command.Parameters.AddWithValue("$created", CreatedAtText(after.CreatedAt));
            command.Parameters.AddWithValue("$id", after.Id);
        }
        // One row more than the page says whether another page follows; the indexes on (created_at, id) and
        // (status, created_at, id) give the rows in order, so no more than these are read.
        command.CommandText = $"SELECT created_at, id, record FROM jobs {(where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where))} ORDER BY created_at DESC, id DESC LIMIT $limit";
        command.Parameters.AddWithValue("$limit", limit + 1);
        using SqliteDataReader reader = command.ExecuteReader();
        var jobs = new List<TrainingJob>();
        JobCursor? last = null;
        while (reader.Read())
        {
            if (jobs.Count == limit) return new JobPage(jobs, last);
            last = new JobCursor(DateTimeOffset.ParseExact(reader.GetString(0), "O", CultureInfo.InvariantCulture), reader.GetString(1));
            jobs.Add(Deserialize(reader.GetString(2)));
        }
        return new JobPage(jobs, null);
    }));

    public Task<TrainingJob?> RequestCancelAsync(string id, CancellationToken cancellationToken) => Task.FromResult(Guard(() =>
        Update(id, j => j.Status == JobStatus.Queued ? j.Ended(JobStatus.Cancelled) : j)));

    public Task<JobClaim?> TryClaimNextAsync(string worker, TimeSpan lease, CancellationToken cancellationToken) => Guard(() =>
    {
        lock (_writes)
        {
            using SqliteConnection connection = Open();
            using SqliteCommand command = connection.CreateCommand();
            command.CommandText = "SELECT record FROM jobs WHERE status IN ($queued, $running) ORDER BY created_at, id";
            command.Parameters.AddWithValue("$queued", JobStatus.Queued);
            command.Parameters.AddWithValue("$running", JobStatus.Running);
            TrainingJob? next = null;
            using (SqliteDataReader reader = command.ExecuteReader())
            {
                while (next is null && reader.Read())
                {
                    TrainingJob job = Deserialize(reader.GetString(0));
                    if (job.Status == JobStatus.Queued || !_leases.ContainsKey(job.Id)) next = job;
                }
            }
            if (next is null) return Task.FromResult<JobClaim?>(null);
            bool takenOver = next.Status == JobStatus.Running;
            TrainingJob claimed = Update(next.Id, j => j with
            {
                Status = JobStatus.Running,
                StartedAt = DateTimeOffset.UtcNow,
                Resumed = takenOver ? j.Resumed + 1 : j.Resumed,
            })!;
            _leases[claimed.Id] = worker;
            return Task.FromResult<JobClaim?>(new JobClaim(claimed, takenOver));
        }
    });

    public Task<LeaseState> RenewLeaseAsync(string id, string worker, TimeSpan lease, CancellationToken cancellationToken) => Guard(() =>
    {
        lock (_writes)
        {
            bool held = _leases.GetValueOrDefault(id) == worker && Get(id)?.Status == JobStatus.Running;
            return Task.FromResult(held ? LeaseState.Held : LeaseState.Lost);
        }
    });

    public Task ReleaseLeaseAsync(string id, string worker, CancellationToken cancellationToken)
    {
        lock (_writes)
        {
            if (_leases.GetValueOrDefault(id) == worker) _leases.Remove(id);
        }
        return Task.CompletedTask;
    }

    public Task<TrainingJob?> UpdateClaimedAsync(string id, string worker, Func<TrainingJob, TrainingJob> change, CancellationToken cancellationToken) => Task.FromResult(Guard(() =>
    {
        lock (_writes)
        {
            if (_leases.GetValueOrDefault(id) != worker) return null;
            if (Get(id)?.Status != JobStatus.Running)
            {
                _leases.Remove(id);
                return null;
            }
            TrainingJob updated = Update(id, change)!;
            if (updated.Status != JobStatus.Running) _leases.Remove(id);
            return (TrainingJob?)updated;
        }
    }));

    public Task<bool> SaveCheckpointAsync(string id, string worker, TrainingCheckpoint checkpoint, CancellationToken cancellationToken)
    {
        lock (_writes)
        {
            if (_leases.GetValueOrDefault(id) != worker) return Task.FromResult(false);
        }
        Directory.CreateDirectory(Path.Combine(_checkpoints, id));
        TrainingCheckpointFile.Write(CheckpointPath(id), checkpoint);
        return Task.FromResult(true);
    }

    public Task<TrainingCheckpoint?> LoadCheckpointAsync(string id, CancellationToken cancellationToken) =>
        Task.FromResult(TrainingCheckpointFile.Read(CheckpointPath(id)));

    public Task DeleteCheckpointAsync(string id, CancellationToken cancellationToken)
    {
        string directory = Path.Combine(_checkpoints, id);
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        return Task.CompletedTask;
    }

    public Task<TrainingJob?> DeleteAsync(string id, CancellationToken cancellationToken) => Task.FromResult(Guard(() =>
    {
        lock (_writes)
        {
            using SqliteConnection connection = Open();
            using SqliteTransaction transaction = connection.BeginTransaction();
            TrainingJob? job = Get(connection, id);
            if (job is null || !JobStatus.IsFinal(job.Status)) return job;
            // The checkpoint first: when it cannot be removed, the record stays and the deletion can be retried. A
            // finished job has no lease, so no worker writes either of them meanwhile.
            DeleteCheckpointDirectory(id);
            using SqliteCommand command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "DELETE FROM jobs WHERE id = $id";
            command.Parameters.AddWithValue("$id", id);
            command.ExecuteNonQuery();
            transaction.Commit();
            return job;
        }
    }));

    /// <summary>Removes the job's checkpoint directory, if any; a failure is a <see cref="StorageUnavailableException"/>.</summary>
    private void DeleteCheckpointDirectory(string id)
    {
        string directory = Path.Combine(_checkpoints, id);
        try
        {
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (DirectoryNotFoundException)
        {
            // The worker that finished the job removed it at the same moment.
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageUnavailableException(
                $"The checkpoint of job {id} cannot be removed from the storage root, so the job was not deleted: {e.Message}",
                full: false, e);
        }
    }

    /// <summary>created_at as stored: the "O" text of the UTC time, so that text order is time order.</summary>
    private static string CreatedAtText(DateTimeOffset createdAt) => createdAt.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);

    private string CheckpointPath(string id) => Path.Combine(_checkpoints, id, "checkpoint.bin");

    /// <summary>Applies a change to a job's record in one transaction; null when there is no such job.</summary>
    private TrainingJob? Update(string id, Func<TrainingJob, TrainingJob> change)
    {
        lock (_writes)
        {
            using SqliteConnection connection = Open();
            using SqliteTransaction transaction = connection.BeginTransaction();
            TrainingJob? current = Get(connection, id);
            if (current is null) return null;
            TrainingJob updated = change(current);
            using SqliteCommand command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "UPDATE jobs SET status = $status, record = $record WHERE id = $id";
            command.Parameters.AddWithValue("$id", id);
            command.Parameters.AddWithValue("$status", updated.Status);
            command.Parameters.AddWithValue("$record", Serialize(updated));
            command.ExecuteNonQuery();
            transaction.Commit();
            return updated;
        }
    }

    public IReadOnlyDictionary<string, long> CountByStatus() => Guard<IReadOnlyDictionary<string, long>>(() =>
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT status, COUNT(*) FROM jobs GROUP BY status";
        using SqliteDataReader reader = command.ExecuteReader();
        var counts = JobStatus.All.ToDictionary(s => s, _ => 0L);
        while (reader.Read()) counts[reader.GetString(0)] = reader.GetInt64(1);
        return counts;
    });

    /// <summary>
    /// The storage root failing under SQLite (full, read-only, an I/O error, the file gone or locked for longer than
    /// the busy timeout) is a <see cref="StorageUnavailableException"/>, answered 507 or 503 like any other storage
    /// failure and skipped or retried by the worker, rather than a 500 or an exception that stops the worker.
    /// </summary>
    private static T Guard<T>(Func<T> work)
    {
        try
        {
            return work();
        }
        catch (SqliteException e) when (AsStorageFailure(e) is { } failure)
        {
            throw failure;
        }
    }

    // SQLite's primary result codes (the low byte of an extended code).
    private const int SqliteBusy = 5, SqliteReadOnly = 8, SqliteIoError = 10, SqliteFull = 13, SqliteCannotOpen = 14;

    internal static StorageUnavailableException? AsStorageFailure(SqliteException e) => (e.SqliteErrorCode & 0xFF) switch
    {
        SqliteFull => new StorageUnavailableException($"The storage root is full; the job store cannot be written: {e.Message}", full: true, e),
        SqliteReadOnly or SqliteIoError or SqliteCannotOpen or SqliteBusy =>
            new StorageUnavailableException($"The job store cannot be used right now: {e.Message}", full: false, e),
        _ => null,
    };

    private TrainingJob? Get(string id)
    {
        using SqliteConnection connection = Open();
        return Get(connection, id);
    }

    private static TrainingJob? Get(SqliteConnection connection, string id)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT record FROM jobs WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        return command.ExecuteScalar() is string record ? Deserialize(record) : null;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static string Serialize(TrainingJob job) => JsonSerializer.Serialize(job, GruJsonContext.Default.TrainingJob);

    private static TrainingJob Deserialize(string record) =>
        JsonSerializer.Deserialize(record, GruJsonContext.Default.TrainingJob) ?? throw new InvalidDataException("A job record is empty.");
}
