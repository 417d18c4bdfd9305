using System.ComponentModel.DataAnnotations;

namespace GruService.Api.Inference;

/// <summary>Limits on one forecast or classify request. Bound from the "Inference" section.</summary>
public sealed class InferenceOptions
{
    public const string Section = "Inference";

    /// <summary>Largest request body; larger ones answer 413.</summary>
    [Range(1024, int.MaxValue)]
    public int MaxRequestBytes { get; set; } = 16 * 1024 * 1024;

    /// <summary>Most sequences in one request.</summary>
    [Range(1, 1_000_000)]
    public int MaxSequences { get; set; } = 1024;

    /// <summary>Most time steps in one sequence.</summary>
    [Range(1, 10_000_000)]
    public int MaxStepsPerSequence { get; set; } = 10_000;

    /// <summary>Most time steps over all sequences of one request.</summary>
    [Range(1, 100_000_000)]
    public int MaxTotalSteps { get; set; } = 200_000;

    /// <summary>Most scratch memory one request may need (it grows with steps × hidden size); larger requests answer 400.</summary>
    [Range(1L << 20, long.MaxValue)]
    public long MaxWorkingBytes { get; set; } = 1L << 30;

    /// <summary>
    /// Cores one forward pass may use: 2 lets a large product (a long or wide model, a big batch) split over a second
    /// core while no other request is in flight, which cuts one request's latency (with others in flight the other
    /// core answers them instead of helping); 1 keeps every pass on its own thread.
    /// </summary>
    [Range(1, 2)]
    public int KernelThreads { get; set; } = 2;

    /// <summary>
    /// Forward passes that may run at once over all models; 0 means one per core. More passes than cores serve no
    /// more requests a second, but each needs its own scratch memory: a request beyond the limit waits (without
    /// holding a thread) for a pass to end, and with batching on it joins the next batch meanwhile.
    /// </summary>
    [Range(0, 1024)]
    public int MaxConcurrentPasses { get; set; }

    /// <summary><see cref="MaxConcurrentPasses"/> with 0 resolved to the core count.</summary>
    public int ConcurrentPasses => MaxConcurrentPasses > 0 ? MaxConcurrentPasses : Environment.ProcessorCount;
}
