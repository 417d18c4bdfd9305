using GruService.Engine.Kernels;

namespace GruService.Api.Inference;

/// <summary>
/// What every model version's queue shares: the slots forward passes run in (Inference:MaxConcurrentPasses), and the
/// number of requests between arriving at the batcher and being answered, which decides whether a pass may split its
/// products over a second core (Inference:KernelThreads).
/// </summary>
internal sealed class PassSlots(int slots, int kernelThreads)
{
    private readonly SemaphoreSlim _slots = new(slots, slots);
    private int _requests;

    /// <summary>Takes a slot: at once when one is free (no allocation), else when a running pass ends.</summary>
    public ValueTask EnterAsync(CancellationToken cancellationToken) =>
        _slots.Wait(0) ? ValueTask.CompletedTask : new ValueTask(_slots.WaitAsync(cancellationToken));

    public void Exit() => _slots.Release();

    /// <summary>A request has arrived at the batcher; it counts until <see cref="Leave"/>.</summary>
    public void Arrive() => Interlocked.Increment(ref _requests);

    public void Leave() => Interlocked.Decrement(ref _requests);

    /// <summary>
    /// Whether a pass of <paramref name="requests"/> requests keeps its products on its own thread: always with
    /// Inference:KernelThreads=1, and whenever any other request is in flight, since the other core then has that
    /// request to serve. A pass alone in the service may use both cores, which cuts its latency.
    /// </summary>
    public bool OnOneCore(int requests) => kernelThreads < 2 || Volatile.Read(ref _requests) > requests;

    /// <summary>The engine setting for a pass of <paramref name="requests"/> requests on this thread (see <see cref="OnOneCore"/>); dispose it after the pass.</summary>
    public Gemm.ThreadScope ThreadsFor(int requests) => Gemm.StayOnThisThread(OnOneCore(requests));
}
