using System.Diagnostics.Metrics;
using GruService.Api.Models;

namespace GruService.Api.Observability;

/// <summary>
/// The service's own instruments, on the "GruService" meter. Created through IMeterFactory so that each host
/// (several run in one test process) exports only its own measurements.
/// </summary>
public sealed class ServiceMetrics
{
    public const string MeterName = "GruService";

    private static readonly double[] DurationBuckets =
        [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

    /// <summary>Powers of two up to the largest batch size worth distinguishing; larger batches count in +Inf.</summary>
    private static readonly long[] BatchSizeBuckets = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024];

    /// <summary>From ten microseconds (a request that found a batch forming) to seconds (a queue far behind).</summary>
    private static readonly double[] QueueBuckets =
        [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

    private readonly Histogram<double> _inferenceDuration;
    private readonly Histogram<long> _batchSize;
    private readonly Histogram<double> _queueDuration;
    private readonly UpDownCounter<long> _pending;
    private readonly Counter<long> _sequences;
    private readonly Counter<long> _timeSteps;
    private readonly Counter<long> _errors;

    public ServiceMetrics(IMeterFactory meterFactory, ModelRegistry registry)
    {
        Meter meter = meterFactory.Create(MeterName);
        _inferenceDuration = meter.CreateHistogram("gruservice.inference.duration", "s",
            "Time spent computing one forecast or classify request's batch, by model and task.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = DurationBuckets });
        _sequences = meter.CreateCounter<long>("gruservice.inference.sequences", "{sequence}", "Sequences answered, by model and task.");
        _timeSteps = meter.CreateCounter<long>("gruservice.inference.time_steps", "{step}", "Input time steps processed, by model and task.");
        _batchSize = meter.CreateHistogram("gruservice.inference.batch.size", "{sequence}",
            "Sequences in one forward pass, by model: several requests' when dynamic batching gathered them.",
            advice: new InstrumentAdvice<long> { HistogramBucketBoundaries = BatchSizeBuckets });
        _queueDuration = meter.CreateHistogram("gruservice.inference.queue.duration", "s",
            "Time a forecast or classify request waited, once read, for its forward pass to start, by model.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = QueueBuckets });
        _pending = meter.CreateUpDownCounter<long>("gruservice.inference.pending_requests", "{request}",
            "Forecast and classify requests read and waiting for their forward pass to start, by model.");
        _errors = meter.CreateCounter<long>("gruservice.errors", "{error}", "Error responses (problem bodies), by reason.");
        meter.CreateObservableGauge("gruservice.model.active_version",
            () => registry.List().Select(m => new Measurement<int>(m.Version, new KeyValuePair<string, object?>("model", m.Name))),
            "{version}", "The version each model serves.");
    }

    public void RecordInference(string model, string task, double seconds, int sequences, int timeSteps)
    {
        var modelTag = new KeyValuePair<string, object?>("model", model);
        var taskTag = new KeyValuePair<string, object?>("task", task);
        _inferenceDuration.Record(seconds, modelTag, taskTag);
        _sequences.Add(sequences, modelTag, taskTag);
        _timeSteps.Add(timeSteps, modelTag, taskTag);
    }

    /// <summary>One forward pass over <paramref name="sequences"/> sequences, from one or more requests.</summary>
    public void RecordBatch(string model, int sequences) =>
        _batchSize.Record(sequences, new KeyValuePair<string, object?>("model", model));

    /// <summary>A request's forward pass started <paramref name="seconds"/> after it was queued.</summary>
    public void RecordQueueTime(string model, double seconds) =>
        _queueDuration.Record(seconds, new KeyValuePair<string, object?>("model", model));

    /// <summary>Requests joined (positive) or left (negative) the wait for a forward pass.</summary>
    public void AddPending(string model, int requests) =>
        _pending.Add(requests, new KeyValuePair<string, object?>("model", model));

    public void RecordError(string reason) => _errors.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
