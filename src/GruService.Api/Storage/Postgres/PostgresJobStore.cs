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

    public Task<bool> TryEnqueueAsync(TrainingJob job, int capacity, CancellationToken cancellationToken) =>
        database.InTransactionAsync(async (connection, transaction) =>
        {
            // Replicas accepting jobs at the same moment must not both take the last place in the queue.
            await ExecuteAsync(connection, transaction, $"SELECT pg_advisory_xact_lock({QueueLockKey})", cancellationToken);
            await using (var count = new NpgsqlCommand("SELECT count(*) FROM training_jobs WHERE status = $1", connection, transaction) { Parameters = { new() { Value = JobStatus.Queued } } })
            {
                if ((long)(await count.ExecuteScalarAsync(cancellationToken))! >= capacity) return false;
            }
            await using var insert = new NpgsqlCommand("INSERT INTO training_jobs (id, status, created_at, record) VALUES ($1, $2, $3, $4)", connection, transaction)
            {
                Parameters = { new() { Value = job.Id }, new() { Value = job.Status }, new() { Value = job.CreatedAt }, new() { Value = Serialize(job) } },
            };
            await insert.ExecuteNonQueryAsync(cancellationToken);
            await NotifyAsync(connection, transaction, PostgresSchema.JobQueuedChannel, job.Id, cancellationToken);
            return true;
        }, cancellationToken);

    public Task<TrainingJob?> GetAsync(string id, CancellationToken cancellationToken) => database.RunAsync(async connection =>
    {
        await using var command = new NpgsqlCommand("SELECT record FROM training_jobs WHERE id = $1", connection) { Parameters = { new() { Value = id } } };
        return await command.ExecuteScalarAsync(cancellationToken) is string record ? Deserialize(record) : null;
    }, cancellationToken);

    public Task<JobPage> ListAsync(string? status, int limit, JobCursor? after, CancellationToken cancellationToken) =>
        database.RunAsync(async connection =>
        {
            await using var command = new NpgsqlCommand { Connection = connection };
            var where = new List<string>(2);
            if (status is not null)
            {
                command.Parameters.Add(new() { Value = status });
                where.Add($"status = ${command.Parameters.Count}");
            }
            if (after is not null)
            {
                command.Parameters.Add(new() { Value = after.CreatedAt.ToUniversalTime() });
                command.Parameters.Add(new() { Value = after.Id });
                where.Add($"(created_at, id) < (${command.Parameters.Count - 1}, ${command.Parameters.Count})");
            }
            // One row more than the page says whether another page follows; the indexes on (created_at, id) and
            // (status, created_at, id) give the rows in order, so no more than these are read.
            command.Parameters.Add(new() { Value = limit + 1 });
            command.CommandText = $"SELECT created_at, id, record FROM training_jobs {(where.Count == 0 ? "" : "WHERE " + string.Join(" AND ", where))} "
                + $"ORDER BY created_at DESC, id DESC LIMIT ${command.Parameters.Count}";
            await using NpgsqlDataReader reader = await command.ExecuteReaderAsync(cancellationToken);
            var jobs = new List<TrainingJob>();
            JobCursor? last = null;
            while (await reader.ReadAsync(cancellationToken))
            {
                if (jobs.Count == limit) return new JobPage(jobs, last);
                // The column's time (microseconds), not the record's (ticks): the next page compares with the column.
                last = new JobCursor(reader.GetFieldValue<DateTimeOffset>(0), reader.GetString(1));
                jobs.Add(Deserialize(reader.GetString(2)));
            }
            return new JobPage(jobs, null);
        }, cancellationToken);

    public IReadOnlyDictionary<string, long> CountByStatus() => database.Run(connection =>
    {
        using var command = new NpgsqlCommand("SELECT status, count(*) FROM training_jobs GROUP BY status", connection);
        using NpgsqlDataReader reader = command.ExecuteReader();
        var counts = JobStatus.All.ToDictionary(s => s, _ => 0L);
        while (reader.Read()) counts[reader.GetString(0)] = reader.GetInt64(1);
        return counts;
    });

    public Task<TrainingJob?> RequestCancelAsync(string id, CancellationToken cancellationToken) =>
        database.InTransactionAsync(async (connection, transaction) =>
        {
            TrainingJob? job = await LockAsync(connection, transaction, id, owner: null, cancellationToken);
            if (job is null) return null;
            if (job.Status == JobStatus.Queued)
            {
                job = job.Ended(JobStatus.Cancelled);
                await WriteAsync(connection, transaction, job, endLease: true, cancellationToken);
            }
            else if (job.Status == JobStatus.Running)
            {
                // The worker running it, on whichever replica, stops when notified or at its next heartbeat.
                await ExecuteAsync(connection, transaction, "UPDATE training_jobs SET cancel_requested = true WHERE id = $1", cancellationToken, id);
                await NotifyAsync(connection, transaction, PostgresSchema.JobCancelChannel, id, cancellationToken);
            }
            return job;
        }, cancellationToken);

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
                    await WriteAsync(connection, transaction, job.Ended(JobStatus.Cancelled), endLease: true, cancellationToken);
                    await ExecuteAsync(connection, transaction, "DELETE FROM training_checkpoints WHERE job_id = $1", cancellationToken, job.Id);
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
                await NotifyAsync(connection, transaction, PostgresSchema.JobQueuedChannel, id, cancellationToken); // wakes the replicas that can take it over
            return true;
        }, cancellationToken);

    public Task<TrainingJob?> UpdateClaimedAsync(string id, string worker, Func<TrainingJob, TrainingJob> change, CancellationToken cancellationToken) =>
        database.InTransactionAsync(async (connection, transaction) =>
        {
            TrainingJob? job = await LockAsync(connection, transaction, id, owner: worker, cancellationToken);
            if (job is null) return null;
            job = change(job);
            await WriteAsync(connection, transaction, job, endLease: JobStatus.IsFinal(job.Status), cancellationToken);
            return job;
        }, cancellationToken);

    public Task<bool> SaveCheckpointAsync(string id, string worker, TrainingCheckpoint checkpoint, CancellationToken cancellationToken) =>
        database.RunAsync(async connection =>
        {
            await using var command = new NpgsqlCommand("""
                INSERT INTO training_checkpoints (job_id, completed_epochs, saved_at, data)
                SELECT $1, $3, now(), $4 WHERE EXISTS (SELECT 1 FROM training_jobs WHERE id = $1 AND lease_owner = $2 AND status = 'running')
                ON CONFLICT (job_id) DO UPDATE SET completed_epochs = excluded.completed_epochs, saved_at = excluded.saved_at, data = excluded.data
                """, connection)
            {
                Parameters = { new() { Value = id }, new() { Value = worker }, new() { Value = checkpoint.CompletedEpochs }, new() { Value = TrainingCheckpointFile.ToBytes(checkpoint) } },
            };
            return await command.ExecuteNonQueryAsync(cancellationToken) > 0;
        }, cancellationToken);

    public Task<TrainingCheckpoint?> LoadCheckpointAsync(string id, CancellationToken cancellationToken) => database.RunAsync(async connection =>
    {
        await using var command = new NpgsqlCommand("SELECT data FROM training_checkpoints WHERE job_id = $1", connection) { Parameters = { new() { Value = id } } };
        return await command.ExecuteScalarAsync(cancellationToken) is byte[] data ? TrainingCheckpointFile.FromBytes(data, $"The checkpoint of job {id}") : null;
    }, cancellationToken);

    public Task DeleteCheckpointAsync(string id, CancellationToken cancellationToken) => database.RunAsync(async connection =>
    {
        await ExecuteAsync(connection, null, "DELETE FROM training_checkpoints WHERE job_id = $1", cancellationToken, id);
        return true;
    }, cancellationToken);

    public Task<TrainingJob?> DeleteAsync(string id, CancellationToken cancellationToken) =>
        database.InTransactionAsync(async (connection, transaction) =>
        {
            // The row lock keeps a cancellation or a claim from changing the job between the check and the deletion.
            TrainingJob? job = await LockAsync(connection, transaction, id, owner: null, cancellationToken);
            if (job is null || !JobStatus.IsFinal(job.Status)) return job;
            // The record holds the request (inline data included); its checkpoint row goes with it (ON DELETE CASCADE).
            await ExecuteAsync(connection, transaction, "DELETE FROM training_jobs WHERE id = $1", cancellationToken, id);
            return job;
        }, cancellationToken);

    /// <summary>Locks the job's row for the transaction and returns its record; with an owner, only while that worker holds it running.</summary>
    private static async Task<TrainingJob?> LockAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string id, string? owner, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(owner is null
            ? "SELECT record FROM training_jobs WHERE id = $1 FOR UPDATE"
            : "SELECT record FROM training_jobs WHERE id = $1 AND lease_owner = $2 AND status = 'running' FOR UPDATE", connection, transaction);
        command.Parameters.Add(new() { Value = id });
        if (owner is not null) command.Parameters.Add(new() { Value = owner });
        return await command.ExecuteScalarAsync(cancellationToken) is string record ? Deserialize(record) : null;
    }

    private static async Task WriteAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, TrainingJob job, bool endLease, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(endLease
            ? "UPDATE training_jobs SET status = $2, record = $3, lease_owner = NULL, lease_expires_at = NULL WHERE id = $1"
            : "UPDATE training_jobs SET status = $2, record = $3 WHERE id = $1", connection, transaction)
        {
            Parameters = { new() { Value = job.Id }, new() { Value = job.Status }, new() { Value = Serialize(job) } },
        };
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static Task NotifyAsync(NpgsqlConnection connection, NpgsqlTransaction transaction, string channel, string payload, CancellationToken cancellationToken) =>
        ExecuteAsync(connection, transaction, $"SELECT pg_notify('{channel}', $1)", cancellationToken, payload);

    private static async Task ExecuteAsync(NpgsqlConnection connection, NpgsqlTransaction? transaction, string sql, CancellationToken cancellationToken, params string[] parameters)
    {
        await using var command = new NpgsqlCommand(sql, connection, transaction);
        foreach (string parameter in parameters) command.Parameters.Add(new() { Value = parameter });
        await command.ExecuteNonQueryAsync(cancellationToken);
    }

    private static string Serialize(TrainingJob job) => JsonSerializer.Serialize(job, GruJsonContext.Default.TrainingJob);

    private static TrainingJob Deserialize(string record) =>
        JsonSerializer.Deserialize(record, GruJsonContext.Default.TrainingJob) ?? throw new InvalidDataException("A job record is empty.");
}
