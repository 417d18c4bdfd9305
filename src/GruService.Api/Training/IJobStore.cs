namespace GruService.Api.Training;

/// <summary>
/// Durable training job records. Every change is committed before the call returns, so a job survives a crash
/// in whatever state it last reached.
/// </summary>
public interface IJobStore
{
    void Create(TrainingJob job);

    TrainingJob? Get(string id);

    /// <summary>Jobs, newest first, optionally only those in one status.</summary>
    IReadOnlyList<TrainingJob> List(string? status = null);

    /// <summary>Applies a change to a job's record; null when there is no such job.</summary>
    TrainingJob? Update(string id, Func<TrainingJob, TrainingJob> change);

    bool Delete(string id);

    /// <summary>How many jobs are in each status.</summary>
    IReadOnlyDictionary<string, long> CountByStatus();
}
