using System.Text.Json;
using GruService.Api.Json;
using GruService.Api.Training;
using GruService.Engine.Training;
using Npgsql;

namespace GruService.Api.Storage.Postgres;

/// <summary>
/// Training jobs in PostgreSQL, shared by every replica; the training_jobs table is the queue. A worker claims the
/// oldest queued job, or a running one whose lease expired (its replica died), with SELECT ... FOR UPDATE SKIP LOCKED,
/// so two workers never take the same job and neither waits for the other. The lease (lease_owner,
/// lease_expires_at, on the database's clock) is kept alive by heartbeats; every write a worker makes to its job
/// checks that it still holds it, so a replica that lost its job cannot overwrite its successor's progress.
/// Checkpoints are rows of training_checkpoints.
/// </summary>
public sealed class PostgresJobStore(PostgresDatabase database) : IJobStore
{
    /// <summary>The advisory lock that serialises the queue-capacity check of jobs being accepted ("GRUQUEUE").</summary>
    private const long QueueLockKey = 0x4752555155455545;

    public bool TryEnqueue(TrainingJob job, int capacity) => database.InTransaction((connection, transaction) =>
    {
        // Replicas accepting jobs at the same moment must not both take the last place in the queue.
        Execute(connection, transaction, $"SELECT pg_advisory_xact_lock({QueueLockKey})");
        using (var count = new NpgsqlCommand("SELECT count(*) FROM training_jobs WHERE status = $1", connection, transaction) { Parameters = { new() { Value = JobStatus.Queued } } })
        {
            if ((long)count.ExecuteScalar()! >= capacity) return false;
        }
        using var insert = new NpgsqlCommand("INSERT INTO training_jobs (id, status, created_at, record) VALUES ($1, $2, $3, $4)", connection, transaction)
        {
            Parameters = { new() { Value = job.Id }, new() { Value = job.Status }, new() { Value = job.CreatedAt }, new() { Value = Serialize(job) } },
        };
        insert.ExecuteNonQuery();
        Notify(connection, transaction, PostgresSchema.JobQueuedChannel, job.Id);
        return true;
    });

    public TrainingJob? Get(string id) => database.Run(connection =>
    {
        using var command = new NpgsqlCommand("SELECT record FROM training_jobs WHERE id = $1", connection) { Parameters = { new() { Value = id } } };
        return command.ExecuteScalar() is string record ? Deserialize(record) : null;
    });

    public IReadOnlyList<TrainingJob> List(string? status = null) => database.Run(connection =>
    {
        using var command = new NpgsqlCommand(status is null
            ? "SELECT record FROM training_jobs ORDER BY created_at DESC, id DESC"
            : "SELECT record FROM training_jobs WHERE status = $1 ORDER BY created_at DESC, id DESC", connection);
        if (status is not null) command.Parameters.Add(new() { Value = status });
        using NpgsqlDataReader reader = command.ExecuteReader();
        var jobs = new List<TrainingJob>();
        while (reader.Read()) jobs.Add(Deserialize(reader.GetString(0)));
        return jobs;
    });

    public IReadOnlyDictionary<string, long> CountByStatus() => database.Run(connection =>
    {
        using var command = new NpgsqlCommand("SELECT status, count(*) FROM training_jobs GROUP BY status", connection);
        using NpgsqlDataReader reader = command.ExecuteReader();
        var counts = JobStatus.All.ToDictionary(s => s, _ => 0L);
        while (reader.Read()) counts[reader.GetString(0)] = reader.GetInt64(1);
        return counts;
    });

    public TrainingJob? RequestCancel(string id) => database.InTransaction<TrainingJob?>((connection, transaction) =>
    {
        TrainingJob? job = Lock(connection, transaction, id, owner: null);
        if (job is null) return null;
        if (job.Status == JobStatus.Queued)
        {
            job = job with { Status = JobStatus.Cancelled, FinishedAt = DateTimeOffset.UtcNow };
            Write(connection, transaction, job, endLease: true);
        }
        else if (job.Status == JobStatus.Running)
        {
            // The worker running it, on whichever replica, stops when notified or at its next heartbeat.
            using var flag = new NpgsqlCommand("UPDATE training_jobs SET cancel_requested = true WHERE id = $1", connection, transaction) { Parameters = { new() { Value = id } } };
            flag.ExecuteNonQuery();
            Notify(connection, transaction, PostgresSchema.JobCancelChannel, id);
        }
        return job;
    });

    public Task<JobClaim?> TryClaimNextAsync(string worker, TimeSpan lease, CancellationToken cancellationToken) =>
        database.InTransactionAsync<JobClaim?>(async (connection, transaction) =>
        {
            while (true)
            {
                string record;
                bool cancelRequested;
                await using (var next = new NpgsqlCommand("""
                    SELECT record, cancel_requested FROM training_jobs
                    WHERE status = 'queued' OR (status = 'running' AND lease_expires_at < now())
                    ORDER BY created_at, id
                    LIMIT 1
                    FOR UPDATE SKIP LOCKED
                    """, connection, transaction))
                await using (NpgsqlDataReader reader = await next.ExecuteReaderAsync(cancellationToken))
                {
                    if (!await reader.ReadAsync(cancellationToken)) return null;
                    (record, cancelRequested) = (reader.GetString(0), reader.GetBoolean(1));
                }
                TrainingJob job = Deserialize(record);
                bool takenOver = job.Status == JobStatus.Running;
                if (cancelRequested)
                {
                    // Cancelled while its replica was dying: there is nothing left to stop.
                    Write(connection, transaction, job with { Status = JobStatus.Cancelled, FinishedAt = DateTimeOffset.UtcNow }, endLease: true);
                    Execute(connection, transaction, "DELETE FROM training_checkpoints WHERE job_id = $1", job.Id);
                    continue;
                }
                job = job with { Status = JobStatus.Running, StartedAt = DateTimeOffset.UtcNow, Resumed = takenOver ? job.Resumed + 1 : job.Resumed };
                await using var claim = new NpgsqlCommand("""
                    UPDATE training_jobs SET status = $2, record = $3, lease_owner = $4, lease_expires_at = now() + $5 * interval '1 second'
                    WHERE id = $1
                    """, connection, transaction)
                {
                    Parameters = { new() { Value = job.Id }, new() { Value = job.Status }, new() { Value = Serialize(job) }, new() { Value = worker }, new() { Value = lease.TotalSeconds } },
                };
                await claim.ExecuteNonQueryAsync(cancellationToken);
                return new JobClaim(job, takenOver);
            }
        }, cancellationToken);

    public Task<LeaseState> RenewLeaseAsync(string id, string worker, TimeSpan lease, CancellationToken cancellationToken) =>
        database.RunAsync(async connection =>
        {
            await using var command = new NpgsqlCommand("""
                UPDATE training_jobs SET lease_expires_at = now() + $3 * interval '1 second'
                WHERE id = $1 AND lease_owner = $2 AND status = 'running'
                RETURNING cancel_requested
                """, connection)
            {
                Parameters = { new() { Value = id }, new() { Value = worker }, new() { Value = lease.TotalSeconds } },
            };
            return await command.ExecuteScalarAsync(cancellationToken) switch
            {
                true => LeaseState.CancelRequested,
                false => LeaseState.Held,
                _ => LeaseState.Lost,
            };
        }, cancellationToken);

    public Task ReleaseLeaseAsync(string id, string worker, CancellationToken cancellationToken) =>
        database.InTransactionAsync(async (connection, transaction) =>
        {
            await using var command = new NpgsqlCommand(
                "UPDATE training_jobs SET lease_expires_at = '-infinity' WHERE id = $1 AND lease_owner = $2 AND status = 'running'", connection, transaction)
            {
                Parameters = { new() { Value = id }, new() { Value = worker } },
            };
            if (await command.ExecuteNonQueryAsync(cancellationToken) > 0)
                Notify(connection, transaction, PostgresSchema.JobQueuedChannel, id); // wakes the replicas that can take it over
            return true;
        }, cancellationToken);

    public TrainingJob? UpdateClaimed(string id, string worker, Func<TrainingJob, TrainingJob> change) =>
        database.InTransaction<TrainingJob?>((connection, transaction) =>
        {
            TrainingJob? job = Lock(connection, transaction, id, owner: worker);
            if (job is null) return null;
            job = change(job);
            Write(connection, transaction, job, endLease: JobStatus.IsFinal(job.Status));
            return job;
        });

    public bool SaveCheckpoint(string id, string worker, TrainingCheckpoint checkpoint) => database.Run(connection =>
    {
        using var command = new NpgsqlCommand("""
            INSERT INTO training_checkpoints (job_id, completed_epochs, saved_at, data)
            SELECT $1, $3, now(), $4 WHERE EXISTS (SELECT 1 FROM training_jobs WHERE id = $1 AND lease_owner = $2 AND status = 'running')
            ON CONFLICT (job_id) DO UPDATE SET completed_epochs = excluded.completed_epochs, saved_at = excluded.saved_at, data = excluded.data
            """, connection)
        {
            Parameters = { new() { Value = id }, new() { Value = worker }, new() { Value = checkpoint.CompletedEpochs }, new() { Value = TrainingCheckpointFile.ToBytes(checkpoint) } },
        };
        return command.ExecuteNonQuery() > 0;
    });

    public TrainingCheckpoint? LoadCheckpoint(string id) => database.Run(connection =>
    {
        using var command = new NpgsqlCommand("SELECT data FROM training_checkpoints WHERE job_id = $1", connection) { Parameters = { new() { Value = id } } };
        return command.ExecuteScalar() is byte[] data ? TrainingCheckpointFile.FromBytes(data, $"The checkpoint of job {id}") : null;
    });

    public void DeleteCheckpoint(string id) => database.Run(connection =>
    {
        Execute(connection, null, "DELETE FROM training_checkpoints WHERE job_id = $1", id);
        return true;
    });

    /// <summary>Locks the job's row for the transaction and returns its record; with an owner, only while that worker holds it running.</summary>
    private static TrainingJob? Lock(NpgsqlConnection connection, NpgsqlTransaction transaction, string id, string? owner)
    {
        using var command = new NpgsqlCommand(owner is null
            ? "SELECT record FROM training_jobs WHERE id = $1 FOR UPDATE"
            : "SELECT record FROM training_jobs WHERE id = $1 AND lease_owner = $2 AND status = 'running' FOR UPDATE", connection, transaction);
        command.Parameters.Add(new() { Value = id });
        if (owner is not null) command.Parameters.Add(new() { Value = owner });
        return command.ExecuteScalar() is string record ? Deserialize(record) : null;
    }

    private static void Write(NpgsqlConnection connection, NpgsqlTransaction transaction, TrainingJob job, bool endLease)
    {
        using var command = new NpgsqlCommand(endLease
            ? "UPDATE training_jobs SET status = $2, record = $3, lease_owner = NULL, lease_expires_at = NULL WHERE id = $1"
            : "UPDATE training_jobs SET status = $2, record = $3 WHERE id = $1", connection, transaction)
        {
            Parameters = { new() { Value = job.Id }, new() { Value = job.Status }, new() { Value = Serialize(job) } },
        };
        command.ExecuteNonQuery();
    }

    private static void Notify(NpgsqlConnection connection, NpgsqlTransaction transaction, string channel, string payload) =>
        Execute(connection, transaction, $"SELECT pg_notify('{channel}', $1)", payload);

    private static void Execute(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, params string[] parameters)
    {
        using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (string parameter in parameters) command.Parameters.Add(new() { Value = parameter });
        command.ExecuteNonQuery();
    }

    private static string Serialize(TrainingJob job) => JsonSerializer.Serialize(job, GruJsonContext.Default.TrainingJob);

    private static TrainingJob Deserialize(string record) =>
        JsonSerializer.Deserialize(record, GruJsonContext.Default.TrainingJob) ?? throw new InvalidDataException("A job record is empty.");
}
