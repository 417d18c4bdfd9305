namespace GruService.Api.Inference;

/// <summary>
/// One request's part in a batch: its sequences (owned by the request), the buffer its answers are written to, and
/// how it learns that they are there. The request must not release either buffer before <see cref="Completion"/>
/// ends, unless it ended cancelled: only a request still waiting can be cancelled, and no batch touches it after.
/// </summary>
internal sealed class PendingInference(InputBatch input, float[] outputs, long queuedAt)
{
    public InputBatch Input { get; } = input;

    /// <summary>At least <see cref="InputBatch.SequenceCount"/> × the model's outputs per sequence long.</summary>
    public float[] Outputs { get; } = outputs;

    /// <summary>Stopwatch timestamp of its arrival at the batcher.</summary>
    public long QueuedAt { get; } = queuedAt;

    public int Sequences => Input.SequenceCount;

    /// <summary>Guarded by the queue's lock.</summary>
    public PendingState State { get; set; }

    /// <summary>Why this request's forward pass failed; null when it succeeded. Set before <see cref="Completion"/> ends.</summary>
    public Exception? Failure { get; set; }

    /// <summary>
    /// Ends when a leader has answered this request (<see cref="PendingRole.Answered"/>) or hands it the lead
    /// (<see cref="PendingRole.Lead"/>), or as cancelled. Continuations run on the thread pool, so a leader never runs
    /// its followers' response writing on its own thread.
    /// </summary>
    public TaskCompletionSource<PendingRole> Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
}

internal enum PendingState
{
    /// <summary>In the queue; cancellation removes it.</summary>
    Waiting,
    /// <summary>In a batch, or made leader: it is answered whatever happens to the client.</summary>
    Taken,
    /// <summary>The client went away while it waited; no batch reads its buffers.</summary>
    Cancelled,
}

internal enum PendingRole
{
    Answered,
    Lead,
}
