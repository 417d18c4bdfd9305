namespace GruService.Api.Training;

/// <summary>
/// Wakes idle training workers when a job may be waiting to be claimed: at once for a job accepted by this process,
/// through the database's notifications for one accepted by another replica. Workers also look every poll
/// interval, so a lost wake-up only delays a job.
/// </summary>
public sealed class TrainingJobSignal
{
    private readonly SemaphoreSlim _signal = new(0);

    public void JobQueued()
    {
        // One pending wake-up is enough: a worker that claims a job passes the wake-up on, in case there are more.
        if (_signal.CurrentCount == 0) _signal.Release();
    }

    /// <summary>Waits for a wake-up, or until <paramref name="timeout"/> passes.</summary>
    public Task WaitAsync(TimeSpan timeout, CancellationToken cancellationToken) => _signal.WaitAsync(timeout, cancellationToken);
}
