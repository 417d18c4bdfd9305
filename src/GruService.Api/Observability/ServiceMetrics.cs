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

    private readonly Histogram<double> _inferenceDuration;
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

    public void RecordError(string reason) => _errors.Add(1, new KeyValuePair<string, object?>("reason", reason));
}
