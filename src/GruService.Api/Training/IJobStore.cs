using GruService.Engine.Training;

namespace GruService.Api.Training;

/// <summary>
/// Durable training jobs, which are also the queue: workers claim queued jobs from the store, hold each under a
/// lease while they run it, and checkpoint it there. Every change is committed before the call returns, so a job
/// survives a crash in whatever state it last reached. <see cref="SqliteJobStore"/> serves one process, whose lease
/// on a job lasts as long as the process; <see cref="Storage.Postgres.PostgresJobStore"/> is shared by replicas,
/// whose leases expire unless renewed, so a job whose replica died is taken over by another.
/// Every call but <see cref="CountByStatus"/> is asynchronous, so a database round trip holds no thread: the calls the
/// trainer's callbacks make wait on the training thread, which runs nothing else.
/// </summary>
public interface IJobStore
{
    /// <summary>Stores a new queued job, unless <paramref name="capacity"/> jobs wait already: false then, and nothing is stored.</summary>
    Task<bool> TryEnqueueAsync(TrainingJob job, int capacity, CancellationToken cancellationToken);

    Task<TrainingJob?> GetAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// A page of jobs, newest first (by creation time, then id): at most <paramref name="limit"/>, optionally only those
    /// in one status, starting after <paramref name="after"/> when given (the <see cref="JobPage.Next"/> of the page
    /// before). The store reads only the page (and one job more, to know whether another page follows), never every job.
    /// </summary>
    Task<JobPage> ListAsync(string? status, int limit, JobCursor? after, CancellationToken cancellationToken);

    /// <summary>How many jobs are in each status. Synchronous: an observable gauge's callback asks it at each scrape.</summary>
    IReadOnlyDictionary<string, long> CountByStatus();

    /// <summary>
    /// Cancels a queued job at once. A running job is asked to stop, which its worker sees at its next lease renewal
    /// (or at once when it runs in this process and the caller tells it). Returns the record after the change; null
    /// when there is no such job.
    /// </summary>
    Task<TrainingJob?> RequestCancelAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// Marks the oldest claimable job running under <paramref name="worker"/>'s lease and returns it: a queued job,
    /// or a running one whose worker is gone (its lease expired), which is then taken over and resumes from its last
    /// checkpoint. Null when no job is claimable. Two workers never claim the same job.
    /// </summary>
    Task<JobClaim?> TryClaimNextAsync(string worker, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>Extends <paramref name="worker"/>'s lease on a running job, or says why it should stop running it.</summary>
    Task<LeaseState> RenewLeaseAsync(string id, string worker, TimeSpan lease, CancellationToken cancellationToken);

    /// <summary>
    /// Gives up the lease on a job still running (at shutdown), so that it can be taken over at once, from its last
    /// checkpoint, rather than when the lease would have expired.
    /// </summary>
    Task ReleaseLeaseAsync(string id, string worker, CancellationToken cancellationToken);

    /// <summary>
    /// Applies a change to a job <paramref name="worker"/> holds; null (and no change) when it no longer holds it.
    /// A change to a final status ends the lease.
    /// </summary>
    Task<TrainingJob?> UpdateClaimedAsync(string id, string worker, Func<TrainingJob, TrainingJob> change, CancellationToken cancellationToken);

    /// <summary>Replaces the job's checkpoint, if <paramref name="worker"/> still holds the job (false otherwise).</summary>
    Task<bool> SaveCheckpointAsync(string id, string worker, TrainingCheckpoint checkpoint, CancellationToken cancellationToken);

    /// <summary>The job's last checkpoint, or null when it has none (no epoch finished, and it was never stopped gracefully).</summary>
    /// <exception cref="InvalidDataException">The stored checkpoint is damaged.</exception>
    Task<TrainingCheckpoint?> LoadCheckpointAsync(string id, CancellationToken cancellationToken);

    Task DeleteCheckpointAsync(string id, CancellationToken cancellationToken);

    /// <summary>
    /// Deletes a finished job (succeeded, failed or cancelled) with all it stores: its record, which holds its request
    /// and any inline data, and its checkpoint. A queued or running job is left as it is. Returns the record as it was
    /// before, deleted exactly when its status is final; null when there is no such job. Nothing the job refers to (the
    /// model version it published, its datasets) is touched.
    /// </summary>
    Task<TrainingJob?> DeleteAsync(string id, CancellationToken cancellationToken);
}

/// <summary>One page of the job list.</summary>
/// <param name="Jobs">The page's jobs, newest first.</param>
/// <param name="Next">Where the next page starts; null when this page holds the oldest job that matches.</param>
public sealed record JobPage(IReadOnlyList<TrainingJob> Jobs, JobCursor? Next);

/// <summary>A job a worker has just claimed.</summary>
/// <param name="Job">The record, now running.</param>
/// <param name="TakenOver">True when the job was running under a worker that is gone (a replica that died, or this process before a restart).</param>
public sealed record JobClaim(TrainingJob Job, bool TakenOver);

public enum LeaseState
{
    /// <summary>The lease is extended; keep running.</summary>
    Held,

    /// <summary>The job was cancelled; stop, and record it cancelled.</summary>
    CancelRequested,

    /// <summary>Another worker holds the job now, or it is gone; stop without touching its record.</summary>
    Lost,
}
