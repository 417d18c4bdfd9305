using System.Text.Json;
using System.Text.Json.Serialization;

namespace GruService.Api.Training;

/// <summary>A training job to run. Every field but model, task and the data has a default.</summary>
/// <param name="Model">The model to publish the result as (a new version of it, created if needed).</param>
/// <param name="Task">"forecast" or "classify".</param>
/// <param name="Dataset">A dataset id from POST /v1/datasets (CSV time series for forecast, NDJSON sequences for classify).</param>
/// <param name="Data">Inline data instead of a dataset, for small sets: forecast {"series": [sequence, ...], "columns": [...]}; classify {"inputs": [sequence, ...], "labels": [...]}.</param>
/// <param name="ValidationDataset">Classify: a dataset of validation sequences instead of a split.</param>
/// <param name="ValidationSplit">Fraction held out for validation: forecast, the last part of each series in time; classify, stratified. Default 0.2.</param>
/// <param name="Window">Forecast: input steps per example. Default 48.</param>
/// <param name="Horizon">Forecast: steps predicted. Default 12.</param>
/// <param name="Inputs">Forecast: the input columns. Default all.</param>
/// <param name="Targets">Forecast: the columns predicted. Default all.</param>
/// <param name="Stride">Forecast: steps between training windows. Default 1.</param>
/// <param name="Architecture">The GRU layers.</param>
/// <param name="Hyperparameters">How to train.</param>
/// <param name="Activate">Make the trained version active. Default true.</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record TrainingJobRequest(
    // Non-null because every job has them, which is what makes the OpenAPI schema require them (OmittedPropertiesTransformer
    // takes only properties that can be null out of "required"). The serializer does not hold a body to that
    // (RespectNullableAnnotations and RespectRequiredConstructorParameters are off), so a body without them still reads,
    // with null, and TrainingPlan answers the 400 that says which one is missing.
    string Model,
    string Task,
    string? Dataset = null,
    JsonElement? Data = null,
    string? ValidationDataset = null,
    double? ValidationSplit = null,
    int? Window = null,
    int? Horizon = null,
    IReadOnlyList<string>? Inputs = null,
    IReadOnlyList<string>? Targets = null,
    int? Stride = null,
    ArchitectureRequest? Architecture = null,
    HyperparametersRequest? Hyperparameters = null,
    bool? Activate = null);

/// <summary>The GRU layers to train.</summary>
/// <param name="HiddenSize">Default 64.</param>
/// <param name="NumLayers">Default 1.</param>
/// <param name="Bidirectional">Default false.</param>
/// <param name="LinearBeforeReset">Default true (PyTorch's GRU).</param>
/// <param name="Dropout">Between layers and before the head, training only. Default 0.</param>
/// <param name="ChannelIndependent">Forecast: one univariate GRU shared by every column forecasts each column on its own (targets must be the inputs). Default false.</param>
/// <param name="SegmentLength">Forecast: time steps the GRU reads per step (must divide the window). Default 1.</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record ArchitectureRequest(int? HiddenSize = null, int? NumLayers = null, bool? Bidirectional = null, bool? LinearBeforeReset = null, double? Dropout = null,
    bool? ChannelIndependent = null, int? SegmentLength = null);

/// <summary>How to train.</summary>
/// <param name="Epochs">Default 20.</param>
/// <param name="BatchSize">Default 64.</param>
/// <param name="LearningRate">Default 0.001.</param>
/// <param name="WeightDecay">Default 0.</param>
/// <param name="Optimizer">"adam" or "adamw" (default).</param>
/// <param name="ClipNorm">Global gradient-norm limit; 0 turns clipping off. Default 1.</param>
/// <param name="Schedule">"constant" (default); "step": the learning rate divided by 10 every 10 epochs (epochs 1-10 at the rate, 11-20 at a tenth of it, ...); or "cosine": from the rate down to 0 along a half cosine over the run's updates. Warm-up, when given, scales the first epochs' updates on top.</param>
/// <param name="WarmupEpochs">Linear learning-rate warm-up. Default 0.</param>
/// <param name="Patience">Epochs without a better validation loss before stopping; 0 turns early stopping off. Default 5.</param>
/// <param name="Seed">Default 1. The same seed and thread count give the same weights.</param>
/// <param name="Loss">Forecast: "mse" (default), "huber" or "mae".</param>
/// <param name="ClassWeights">Classify: a weight per class label for the cross-entropy.</param>
/// <param name="SeasonLength">Forecast: the season of the naive forecast MASE compares with. Default 1.</param>
/// <param name="WindowNormalization">Forecast: "none" (default), "mean" or "last": subtract each input window's mean or last value and add it back to the forecast.</param>
[JsonUnmappedMemberHandling(JsonUnmappedMemberHandling.Disallow)]
public sealed record HyperparametersRequest(
    int? Epochs = null, int? BatchSize = null, double? LearningRate = null, double? WeightDecay = null, string? Optimizer = null,
    double? ClipNorm = null, string? Schedule = null, int? WarmupEpochs = null, int? Patience = null, ulong? Seed = null,
    string? Loss = null, IReadOnlyDictionary<string, double>? ClassWeights = null, int? SeasonLength = null, string? WindowNormalization = null);

/// <summary>A job just accepted.</summary>
/// <param name="Id">The job's id.</param>
/// <param name="Status">"queued".</param>
public sealed record TrainingJobAccepted(string Id, string Status);

/// <summary>A training job: what was asked, where it is, and what came of it.</summary>
/// <param name="Id">The job's id.</param>
/// <param name="Status">queued, running, succeeded, failed or cancelled.</param>
/// <param name="Model">The model the result is published as.</param>
/// <param name="Task">forecast or classify.</param>
/// <param name="Dataset">The dataset id, or null for inline data.</param>
/// <param name="CreatedAt">When the job was accepted.</param>
/// <param name="StartedAt">When it last started running.</param>
/// <param name="FinishedAt">When it ended.</param>
/// <param name="Progress">Epoch, batches, losses, elapsed and estimated time left, while running and after.</param>
/// <param name="History">One entry per finished epoch.</param>
/// <param name="Result">On success: the published model version and its metrics.</param>
/// <param name="Error">On failure: what went wrong.</param>
/// <param name="Resumed">How often the job was resumed from a checkpoint after the service restarted, or after the replica running it died and another took it over.</param>
/// <param name="Request">The request as accepted. In the job list (and the trained model's card) inline data is replaced by a description: {"inline": true, "series" or "sequences": count, "steps", "features", "values", and for classify "labels": distinct labels}.</param>
/// <param name="ResumedFromEpoch">When it was resumed: how many epochs its checkpoint had finished (0: none).</param>
/// <param name="ResumedFromBatch">When it was resumed: how many batches of the next epoch its checkpoint had trained (0: it resumed at the start of that epoch; more when it was checkpointed on a graceful shutdown). Both 0: it started over.</param>
public sealed record TrainingJob(
    string Id,
    string Status,
    string Model,
    string Task,
    string? Dataset,
    DateTimeOffset CreatedAt,
    DateTimeOffset? StartedAt,
    DateTimeOffset? FinishedAt,
    JobProgress? Progress,
    IReadOnlyList<JobEpoch> History,
    JobResult? Result,
    string? Error,
    int Resumed,
    JsonElement Request,
    int? ResumedFromEpoch = null,
    int? ResumedFromBatch = null)
{
    /// <summary>
    /// The job ended now with this final status. Its progress stays as last reported, but with no time left: the
    /// estimate of a job cancelled, failed or stopped early would otherwise stay in its record for good.
    /// </summary>
    public TrainingJob Ended(string status) => this with
    {
        Status = status,
        FinishedAt = DateTimeOffset.UtcNow,
        Progress = Progress is null ? null : Progress with { RemainingSeconds = 0 },
    };
}

/// <summary>Where a running job is, or where it ended.</summary>
/// <param name="Epoch">The epoch in progress (1-based), or the last one run.</param>
/// <param name="Epochs">Epochs asked for.</param>
/// <param name="Batch">Batches of this epoch done.</param>
/// <param name="Batches">Batches per epoch.</param>
/// <param name="TrainLoss">Mean training loss of this epoch's batches so far (standardised units).</param>
/// <param name="ValidationLoss">Validation loss of the last finished epoch (standardised units).</param>
/// <param name="ValidationMetric">Of the last finished epoch: forecast jobs, the validation MSE in the targets' original units; classify jobs, the validation accuracy (0 to 1). Null without a validation part.</param>
/// <param name="ElapsedSeconds">Training time so far, over every run of the job (resumes included).</param>
/// <param name="RemainingSeconds">Estimated training time left, from the time per batch over every run of the job so far (the epochs' validation included); null before the first batch, 0 once the job has ended (succeeded, failed or cancelled).</param>
public sealed record JobProgress(int Epoch, int Epochs, int Batch, int Batches, double TrainLoss, double? ValidationLoss,
    double? ValidationMetric, double ElapsedSeconds, double? RemainingSeconds);

/// <summary>One finished epoch.</summary>
/// <param name="Epoch">1-based.</param>
/// <param name="TrainLoss">Mean training loss (standardised units).</param>
/// <param name="ValidationLoss">Validation loss (standardised units); null without a validation part.</param>
/// <param name="ValidationMetric">Forecast jobs: the validation MSE in the targets' original units; classify jobs: the validation accuracy (0 to 1). Null without a validation part.</param>
/// <param name="Seconds">The epoch's training and validation time.</param>
/// <param name="LearningRate">The learning rate of the epoch's last update.</param>
public sealed record JobEpoch(int Epoch, double TrainLoss, double? ValidationLoss, double? ValidationMetric, double Seconds, double LearningRate);

/// <summary>What a successful job produced.</summary>
/// <param name="Model">The model name.</param>
/// <param name="Version">The new version.</param>
/// <param name="Activated">Whether it was made active.</param>
/// <param name="Metrics">Validation (and test) metrics in the data's original units.</param>
/// <param name="BestEpoch">The epoch whose weights were kept (1-based).</param>
/// <param name="StoppedEarly">Whether early stopping ended the run.</param>
/// <param name="Seconds">Training time.</param>
/// <param name="TrainingGflops">Billions of floating-point operations per second the trainer sustained (GRU products, forward and backward).</param>
public sealed record JobResult(string Model, int Version, bool Activated, JsonElement Metrics, int BestEpoch, bool StoppedEarly, double Seconds, double TrainingGflops);

/// <summary>A page of jobs, newest first.</summary>
/// <param name="Jobs">The page's jobs.</param>
/// <param name="Next">When older jobs follow: the token that asks for them, as ?after=; absent on the last page.</param>
public sealed record TrainingJobList(IReadOnlyList<TrainingJob> Jobs, string? Next = null);

public static class JobStatus
{
    public const string Queued = "queued";
    public const string Running = "running";
    public const string Succeeded = "succeeded";
    public const string Failed = "failed";
    public const string Cancelled = "cancelled";

    public static readonly string[] All = [Queued, Running, Succeeded, Failed, Cancelled];

    public static bool IsFinal(string status) => status is Succeeded or Failed or Cancelled;
}
