using System.Diagnostics;
using System.Runtime.InteropServices;
using GruService.Api.Models;
using GruService.Api.Observability;
using GruService.Engine;

namespace GruService.Api.Inference;

/// <summary>
/// The dynamic batcher of one model version, leader/follower style. A request arriving while no forward pass of this
/// version is running leads: it runs one batch on its own thread, made of itself and the requests that were waiting
/// (after waiting up to the queue delay for more, when one is configured), answers them, and hands the lead to the
/// oldest request still waiting, if any. A request arriving while a pass runs waits in the queue. So a request with
/// no concurrency runs at once on its own thread, and under load each version has one forward pass at a time, as
/// large as the settings allow.
/// </summary>
/// <remarks>
/// A queue belongs to one <see cref="ServedModel"/> instance, and a request joins the queue of the instance it was
/// validated against, so an activation while it waits cannot move it to another version.
/// </remarks>
internal sealed partial class ModelBatchQueue
{
    private readonly ServedModel _served;
    private readonly BatchSettings _settings;
    private readonly long _maxWorkingBytes;
    private readonly long _maxQueueDelayTicks;
    private readonly PassSlots _passes;
    private readonly ServiceMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Action<object?, CancellationToken> _cancel;

    private readonly Lock _lock = new();
    private readonly Queue<PendingInference> _waiting = new();
    // Sequences of the requests in _waiting that are still waiting (not cancelled).
    private int _waitingSequences;
    // True from the moment a request takes the lead until the last leader finds nobody waiting.
    private bool _leading;
    // While a leader waits for its batch to fill: the waiting sequences that fill it, and the signal that they have come.
    private int _fillTarget;
    private TaskCompletionSource? _filled;

    // Used only by the leader, and there is one at a time; the lock hands it from one to the next.
    private readonly List<PendingInference> _batch = [];

    // passes: slots for forward passes, shared with every other queue; a pass runs only in a slot.
    public ModelBatchQueue(ServedModel served, BatchSettings settings, long maxWorkingBytes, PassSlots passes, ServiceMetrics metrics, ILogger logger)
    {
        _passes = passes;
        _served = served;
        _settings = settings;
        _maxWorkingBytes = maxWorkingBytes;
        _maxQueueDelayTicks = settings.MaxQueueDelayMicroseconds * Stopwatch.Frequency / 1_000_000;
        _metrics = metrics;
        _logger = logger;
        _cancel = (state, token) => Cancel((PendingInference)state!, token);
    }

    /// <summary>
    /// Computes <paramref name="request"/>'s answers into its output buffer. Throws <see cref="OperationCanceledException"/>
    /// when the client went away before its batch started, and <see cref="InferenceFailedException"/> when its forward
    /// pass failed.
    /// </summary>
    public async Task RunAsync(PendingInference request, CancellationToken cancellationToken)
    {
        // Counted from arrival to answer, so that a pass knows whether any other request is in flight (PassSlots.OnOneCore).
        _passes.Arrive();
        try
        {
            if (!_settings.Enabled)
            {
                await _passes.EnterAsync(cancellationToken);
                try
                {
                    RunAlone(request);
                }
                finally
                {
                    _passes.Exit();
                }
                ThrowIfFailed(request);
                return;
            }

            _metrics.AddPending(_served.Name, 1);
            bool lead;
            lock (_lock)
            {
                lead = !_leading;
                if (lead)
                {
                    _leading = true;
                    request.State = PendingState.Taken;
                }
                else
                {
                    Enqueue(request);
                }
            }

            if (!lead)
            {
                PendingRole role;
                using (cancellationToken.UnsafeRegister(_cancel, request))
                    role = await request.Completion.Task;
                if (role == PendingRole.Answered)
                {
                    ThrowIfFailed(request);
                    return;
                }
            }

            await LeadAsync(request);
            ThrowIfFailed(request);
        }
        finally
        {
            _passes.Leave();
        }
    }

    private void Enqueue(PendingInference request)
    {
        _waiting.Enqueue(request);
        _waitingSequences += request.Sequences;
        if (_filled is not null && _waitingSequences >= _fillTarget)
        {
            _filled.TrySetResult();
            _filled = null;
        }
    }

    /// <summary>The client went away: a request still waiting leaves the queue; one already in a batch is answered regardless.</summary>
    private void Cancel(PendingInference request, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            if (request.State != PendingState.Waiting) return;
            request.State = PendingState.Cancelled;
            _waitingSequences -= request.Sequences;
        }
        _metrics.AddPending(_served.Name, -1);
        request.Completion.TrySetCanceled(cancellationToken);
    }

    private async Task LeadAsync(PendingInference leader)
    {
        _batch.Clear();
        _batch.Add(leader);
        bool inPass = false;
        try
        {
            if (_maxQueueDelayTicks > 0)
                await WaitForBatchAsync(leader);
            // The leader must run whatever its own client does: the requests behind it wait for its hand-on.
            await _passes.EnterAsync(CancellationToken.None);
            inPass = true;
            lock (_lock)
                TakeWaiting(leader);
            long start = Stopwatch.GetTimestamp();
            _metrics.AddPending(_served.Name, -_batch.Count);
            foreach (PendingInference request in _batch)
                _metrics.RecordQueueTime(_served.Name, Stopwatch.GetElapsedTime(request.QueuedAt, start).TotalSeconds);
            RunBatch(CollectionsMarshal.AsSpan(_batch));
        }
        catch (Exception e)
        {
            // RunBatch catches the forward pass's failures; this is for anything else. Whatever happens, the finally
            // answers every request taken and passes the lead on, so no request waits forever.
            foreach (PendingInference request in _batch) request.Failure ??= e;
        }
        finally
        {
            if (inPass) _passes.Exit();
            AnswerAndHandOn(leader);
        }
    }

    /// <summary>
    /// Waits until enough sequences are waiting to fill the batch, or until the queue delay, counted from the
    /// leader's arrival, has passed. Timers tick in milliseconds, so a wait shorter than one spins (yielding) instead.
    /// </summary>
    private async Task WaitForBatchAsync(PendingInference leader)
    {
        Task filled;
        lock (_lock)
        {
            if (leader.Sequences + _waitingSequences >= _settings.MaxBatchSize) return;
            _fillTarget = _settings.MaxBatchSize - leader.Sequences;
            _filled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            filled = _filled.Task;
        }
        long deadline = leader.QueuedAt + _maxQueueDelayTicks;
        long remaining = deadline - Stopwatch.GetTimestamp();
        if (remaining >= Stopwatch.Frequency / 1000)
        {
            await Task.WhenAny(filled, Task.Delay(TimeSpan.FromSeconds((double)remaining / Stopwatch.Frequency)));
        }
        else
        {
            var spinner = new SpinWait();
            while (!filled.IsCompleted && Stopwatch.GetTimestamp() < deadline)
                spinner.SpinOnce(sleep1Threshold: -1);
        }
        lock (_lock)
            _filled = null;
    }

    /// <summary>
    /// Under the lock: moves waiting requests, oldest first, into the leader's batch while the batch stays within
    /// MaxBatchSize sequences and the working-memory limit a single request is held to. Requests are never split.
    /// </summary>
    private void TakeWaiting(PendingInference leader)
    {
        GruModel model = _served.Model;
        int sequences = leader.Sequences;
        long steps = leader.Input.TotalSteps;
        while (_waiting.TryPeek(out PendingInference? next))
        {
            if (next.State == PendingState.Cancelled)
            {
                _waiting.Dequeue();
                continue;
            }
            int batchSequences = sequences + next.Sequences;
            long batchSteps = steps + next.Input.TotalSteps;
            if (batchSequences > _settings.MaxBatchSize || model.WorkingBytes(batchSteps, batchSequences) > _maxWorkingBytes)
                break;
            _waiting.Dequeue();
            next.State = PendingState.Taken;
            _waitingSequences -= next.Sequences;
            _batch.Add(next);
            sequences = batchSequences;
            steps = batchSteps;
        }
    }

    /// <summary>Wakes the batch's followers, then gives the lead to the oldest request still waiting, or gives it up.</summary>
    private void AnswerAndHandOn(PendingInference leader)
    {
        foreach (PendingInference request in _batch)
        {
            if (!ReferenceEquals(request, leader))
                request.Completion.TrySetResult(PendingRole.Answered);
        }
        _batch.Clear();

        PendingInference? next = null;
        lock (_lock)
        {
            while (_waiting.TryDequeue(out PendingInference? candidate))
            {
                if (candidate.State != PendingState.Waiting) continue;
                candidate.State = PendingState.Taken;
                _waitingSequences -= candidate.Sequences;
                next = candidate;
                break;
            }
            if (next is null) _leading = false;
        }
        next?.Completion.TrySetResult(PendingRole.Lead);
    }

    /// <summary>Batching switched off for this model: the request runs its own forward pass, now, on its own thread.</summary>
    private void RunAlone(PendingInference request)
    {
        request.State = PendingState.Taken;
        RunBatch(new ReadOnlySpan<PendingInference>(ref request));
    }

    /// <summary>
    /// One forward pass over the requests' sequences, back to back, answers copied to each request's buffer. If it
    /// fails, each request is run alone, so a request that cannot be computed fails only itself.
    /// </summary>
    private void RunBatch(ReadOnlySpan<PendingInference> batch)
    {
        try
        {
            Forward(batch);
            return;
        }
        catch (Exception e) when (batch.Length == 1)
        {
            batch[0].Failure = e;
            LogFailed(e, _served.Name, _served.Version, 1, e.Message);
            return;
        }
        catch (Exception e)
        {
            LogFailed(e, _served.Name, _served.Version, batch.Length, e.Message);
        }
        for (int i = 0; i < batch.Length; i++)
            RunBatch(batch.Slice(i, 1));
    }

    private void Forward(ReadOnlySpan<PendingInference> batch)
    {
        GruModel model = _served.Model;
        int perSequence = model.OutputsPerSequence;
        long start;
        int sequences = 0, steps = 0;
        if (batch.Length == 1)
        {
            // The common case without concurrency: straight from the request's buffers, nothing copied.
            PendingInference only = batch[0];
            sequences = only.Sequences;
            steps = only.Input.TotalSteps;
            start = Stopwatch.GetTimestamp();
            using (_passes.ThreadsFor(requests: 1))
                model.Predict(only.Input.Values, only.Input.Lengths, only.Outputs.AsSpan(0, sequences * perSequence));
        }
        else
        {
            int values = 0;
            foreach (PendingInference request in batch)
            {
                sequences += request.Sequences;
                steps += request.Input.TotalSteps;
                values += request.Input.ValueCount;
            }
            float[] inputs = Workspace.Floats.Rent(values);
            int[] lengths = Workspace.Ints.Rent(sequences);
            float[] outputs = Workspace.Floats.Rent(sequences * perSequence);
            try
            {
                int valueAt = 0, sequenceAt = 0;
                foreach (PendingInference request in batch)
                {
                    request.Input.Values.CopyTo(inputs.AsSpan(valueAt));
                    request.Input.Lengths.CopyTo(lengths.AsSpan(sequenceAt));
                    valueAt += request.Input.ValueCount;
                    sequenceAt += request.Sequences;
                }
                start = Stopwatch.GetTimestamp();
                using (_passes.ThreadsFor(batch.Length))
                    model.Predict(inputs.AsSpan(0, values), lengths.AsSpan(0, sequences), outputs.AsSpan(0, sequences * perSequence));
                int outputAt = 0;
                foreach (PendingInference request in batch)
                {
                    int count = request.Sequences * perSequence;
                    outputs.AsSpan(outputAt, count).CopyTo(request.Outputs);
                    outputAt += count;
                }
            }
            finally
            {
                Workspace.Floats.Return(inputs);
                Workspace.Ints.Return(lengths);
                Workspace.Floats.Return(outputs);
            }
        }
        _metrics.RecordInference(_served.Name, _served.TaskName, Stopwatch.GetElapsedTime(start).TotalSeconds, sequences, steps);
        _metrics.RecordBatch(_served.Name, sequences);
    }

    private void ThrowIfFailed(PendingInference request)
    {
        if (request.Failure is { } failure)
            throw new InferenceFailedException(_served.Name, _served.Version, failure);
    }

    [LoggerMessage(LogLevel.Error, "Forward pass of model {Model} version {Version} failed for a batch of {Requests} requests: {Reason}")]
    private partial void LogFailed(Exception exception, string model, int version, int requests, string reason);
}
