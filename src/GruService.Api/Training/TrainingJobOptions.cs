using System.ComponentModel.DataAnnotations;

namespace GruService.Api.Training;

/// <summary>The training queue. Bound from the "Training" section.</summary>
public sealed class TrainingJobOptions
{
    public const string Section = "Training";

    /// <summary>Jobs waiting to run; a request beyond it answers 429 with Retry-After.</summary>
    [Range(1, 100_000)]
    public int QueueCapacity { get; set; } = 16;

    /// <summary>Jobs running at once.</summary>
    [Range(1, 64)]
    public int ConcurrentJobs { get; set; } = 1;

    /// <summary>
    /// Threads each job trains with. The default leaves one core's worth of capacity for inference, so requests keep
    /// being answered while a job runs (on 2 cores: 1 thread).
    /// </summary>
    [Range(1, 1024)]
    public int Threads { get; set; } = Math.Max(1, Environment.ProcessorCount - 1);

    /// <summary>How often a running job's progress is written to its record.</summary>
    [Range(0, 3600)]
    public double ProgressIntervalSeconds { get; set; } = 1;
}
