using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using GruService.Api.Observability;

namespace GruService.Api.Training;

/// <summary>Training instruments on the service's meter: jobs by state, queue depth, epoch durations, running jobs' last losses.</summary>
public sealed class TrainingMetrics
{
    private static readonly double[] EpochBuckets = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000];

    private readonly Histogram<double> _epochDuration;
    private readonly ConcurrentDictionary<string, (double Train, double? Validation)> _lastLosses = new();

    public TrainingMetrics(IMeterFactory meterFactory, IJobStore jobs)
    {
        Meter meter = meterFactory.Create(ServiceMetrics.MeterName);
        meter.CreateObservableGauge("gruservice.training.jobs",
            () => CountsOrNone(jobs).Select(c => new Measurement<long>(c.Value, new KeyValuePair<string, object?>("status", c.Key))),
            "{job}", "Training jobs by status.");
        meter.CreateObservableGauge("gruservice.training.queue.depth", () => CountsOrNone(jobs).Where(c => c.Key == JobStatus.Queued).Select(c => new Measurement<long>(c.Value)), "{job}", "Training jobs waiting to run.");
        _epochDuration = meter.CreateHistogram("gruservice.training.epoch.duration", "s", "Time one training epoch took, by model.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = EpochBuckets });
        meter.CreateObservableGauge("gruservice.training.loss", ObserveLosses, null, "The last epoch's losses of each running job.");
    }

    /// <summary>The job counts, or none while the shared database is unreachable: /metrics keeps answering without them.</summary>
    private static IReadOnlyDictionary<string, long> CountsOrNone(IJobStore jobs)
    {
        try
        {
            return jobs.CountByStatus();
        }
        catch (Models.StorageUnavailableException)
        {
            return new Dictionary<string, long>();
        }
    }

    public void RecordEpoch(string job, string model, double seconds, double trainLoss, double? validationLoss)
    {
        _epochDuration.Record(seconds, new KeyValuePair<string, object?>("model", model));
        _lastLosses[job] = (trainLoss, validationLoss);
    }

    public void JobEnded(string job) => _lastLosses.TryRemove(job, out _);

    private IEnumerable<Measurement<double>> ObserveLosses()
    {
        foreach (var (job, (train, validation)) in _lastLosses)
        {
            yield return new Measurement<double>(train, new("job", job), new("split", "train"));
            if (validation is { } v) yield return new Measurement<double>(v, new("job", job), new("split", "validation"));
        }
    }
}
