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
}
