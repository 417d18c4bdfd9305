using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text.Json;
using GruService.Api.Datasets;
using GruService.Api.Json;
using GruService.Api.Models;
using GruService.Engine;
using GruService.Engine.ModelFiles;
using GruService.Engine.Training;
using Microsoft.Extensions.Options;

namespace GruService.Api.Training;

/// <summary>
/// Runs queued training jobs, ConcurrentJobs at a time. Each job checkpoints after every epoch under
/// <c>ROOT/jobs/ID/</c>; a job found running at start-up (the process stopped, by SIGTERM or kill -9) resumes from its
/// last checkpoint, or from the start when it had none, so no job is lost or left stuck at running. On a graceful stop
/// (SIGTERM) the running job stops at its next batch as soon as the host is told to stop, keeping its status and
/// checkpoint, rather than after the server has drained, so it is saved well within the shutdown timeout.
/// </summary>
public sealed partial class TrainingWorker(
    IJobStore jobs,
    TrainingQueue queue,
    IDatasetStore datasets,
    ModelRegistry registry,
    TrainingMetrics metrics,
    IOptions<TrainingJobOptions> options,
    IOptions<StorageOptions> storage,
    IHostApplicationLifetime lifetime,
    ILogger<TrainingWorker> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, CancellationTokenSource> _running = new();
    private readonly string _jobsDirectory = Path.Combine(Path.GetFullPath(storage.Value.Root), "jobs");

    /// <summary>Asks a running job to stop; false when it is not running here.</summary>
    public bool CancelRunning(string id)
    {
        if (!_running.TryGetValue(id, out CancellationTokenSource? cancellation)) return false;
        cancellation.Cancel();
        return true;
    }

    protected override async Task ExecuteAsync(CancellationToken hostStopping)
    {
        // Let the host finish starting (and the registry load) before jobs take the CPU.
        await Task.Yield();
        // ApplicationStopping fires when the stop begins; the worker's own token only once the web server has drained.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(hostStopping, lifetime.ApplicationStopping);
        CancellationToken stoppingToken = stopping.Token;
        Task recovery = RecoverAsync(stoppingToken);
        Task[] runners = [.. Enumerable.Range(0, options.Value.ConcurrentJobs).Select(_ => RunQueueAsync(stoppingToken))];
        try
        {
            await recovery;
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopped while re-queueing interrupted jobs: they are still marked queued and are found again at the next start.
        }
        await Task.WhenAll(runners);
    }

    private async Task RecoverAsync(CancellationToken stoppingToken)
    {
        foreach (TrainingJob job in jobs.List().Where(j => j.Status is JobStatus.Running or JobStatus.Queued).Reverse())
        {
            if (job.Status == JobStatus.Running)
            {
                bool resumable = File.Exists(CheckpointPath(job.Id));
                jobs.Update(job.Id, j => j with { Status = JobStatus.Queued, Resumed = j.Resumed + 1 });
                LogRecovered(job.Id, resumable ? "from its last checkpoint" : "from the start (no epoch had finished)");
            }
            await queue.EnqueueAsync(job.Id, stoppingToken);
        }
    }

    private async Task RunQueueAsync(CancellationToken stoppingToken)
    {
        try
        {
            await foreach (string id in queue.ReadAllAsync(stoppingToken))
                await RunAsync(id, stoppingToken);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: a running job keeps its status and checkpoint and resumes at the next start.
        }
    }

    private async Task RunAsync(string id, CancellationToken stoppingToken)
    {
        TrainingJob? job = jobs.Update(id, j => j.Status == JobStatus.Queued ? j with { Status = JobStatus.Running, StartedAt = DateTimeOffset.UtcNow } : j);
        if (job is null || job.Status != JobStatus.Running) return; // cancelled or deleted while it waited

        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
        _running[id] = cancellation;
        try
        {
            // Training is CPU-bound and synchronous: keep it off the thread pool's request threads.
            JobResult result = await Task.Factory.StartNew(() => Train(job, cancellation.Token).GetAwaiter().GetResult(),
                cancellation.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
            jobs.Update(id, j => j with { Status = JobStatus.Succeeded, FinishedAt = DateTimeOffset.UtcNow, Result = result });
            DeleteCheckpoint(id);
            LogSucceeded(id, result.Model, result.Version);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            LogInterrupted(id);
            throw;
        }
        catch (OperationCanceledException)
        {
            jobs.Update(id, j => j with { Status = JobStatus.Cancelled, FinishedAt = DateTimeOffset.UtcNow });
            DeleteCheckpoint(id);
            LogCancelled(id);
        }
        catch (Exception e) when (e is TrainingDataException or TrainingRequestException or ModelFileException or KeyNotFoundException
            or InvalidOperationException or InvalidDataException or ArgumentException or IOException or OutOfMemoryException)
        {
            string reason = e is IOException or InvalidDataException or OutOfMemoryException ? $"{e.GetType().Name}: {e.Message}" : e.Message;
            jobs.Update(id, j => j with { Status = JobStatus.Failed, FinishedAt = DateTimeOffset.UtcNow, Error = reason });
            LogFailed(e, id, reason);
        }
        finally
        {
            _running.TryRemove(id, out _);
            metrics.JobEnded(id);
        }
    }

    private async Task<JobResult> Train(TrainingJob job, CancellationToken cancellationToken)
    {
        TrainingJobRequest request = job.Request.Deserialize(GruJsonContext.Default.TrainingJobRequest)
            ?? throw new TrainingRequestException("The job's request is empty.");
        TrainingPlan plan = TrainingPlan.Create(request, datasets, new ModelLimits(), options.Value.Threads);
        TrainingProblem problem = await plan.LoadProblemAsync(datasets, cancellationToken);

        Directory.CreateDirectory(Path.Combine(_jobsDirectory, job.Id));
        string checkpointPath = CheckpointPath(job.Id);
        TrainingCheckpoint? resume = TrainingCheckpointFile.Read(checkpointPath);
        var trainer = new GruTrainer(problem, plan.Architecture, plan.Settings);
        long lastWrite = 0;
        long interval = (long)(options.Value.ProgressIntervalSeconds * Stopwatch.Frequency);
        TrainingResult result = trainer.Train(resumeFrom: resume,
            progress: p =>
            {
                if (!p.EpochCompleted && Stopwatch.GetTimestamp() - lastWrite < interval) return;
                lastWrite = Stopwatch.GetTimestamp();
                jobs.Update(job.Id, j => j with { Progress = Progress(p) });
            },
            checkpoint: c =>
            {
                TrainingCheckpointFile.Write(checkpointPath, c);
                EpochRecord last = c.History[^1];
                metrics.RecordEpoch(job.Id, plan.Model, last.Seconds, last.TrainLoss, last.ValidationLoss);
                jobs.Update(job.Id, j => j with { History = [.. c.History.Select(Epoch)] });
            },
            cancellationToken: cancellationToken);

        JsonElement metricsJson = JsonSerializer.SerializeToElement(new { validation = result.Validation, test = result.Test }, TrainingJson.Options);
        GruModel model = WithTrainingRecord(result, plan, job, metricsJson);
        ServedModel served = await registry.PublishAsync(plan.Model, ModelFile.Write(model), plan.Activate, CancellationToken.None);
        return new JobResult(plan.Model, served.Version, registry.TryGet(plan.Model, out ServedModel active) && active.Version == served.Version,
            metricsJson, result.BestEpoch + 1, result.StoppedEarly, Math.Round(result.Seconds, 3), Math.Round(result.TrainingGflops, 2));
    }

    /// <summary>The model's card carries the job, dataset, request (hyperparameters), metrics and duration.</summary>
    private static GruModel WithTrainingRecord(TrainingResult result, TrainingPlan plan, TrainingJob job, JsonElement metricsJson)
    {
        GruConfig c = result.Model.Config;
        var extra = new Dictionary<string, JsonElement>(c.Extra)
        {
            ["training"] = JsonSerializer.SerializeToElement(new Dictionary<string, object?>
            {
                ["job"] = job.Id,
                ["dataset"] = plan.Dataset,
                ["trained_at"] = DateTimeOffset.UtcNow,
                ["seconds"] = Math.Round(result.Seconds, 3),
                ["epochs_run"] = result.History.Count,
                ["best_epoch"] = result.BestEpoch + 1,
                ["stopped_early"] = result.StoppedEarly,
                ["metrics"] = metricsJson,
                ["request"] = job.Request,
            }, TrainingJson.Options),
        };
        return new GruModel(c with { Extra = extra }, result.Model.Directions, result.Model.HeadWeight, result.Model.HeadBias);
    }

    private static JobProgress Progress(TrainingProgress p) => new(p.Epoch, p.Epochs, p.Batch, p.Batches, Math.Round(p.TrainLoss, 6),
        p.ValidationLoss, p.ValidationMetric, Math.Round(p.Elapsed.TotalSeconds, 3), p.Remaining is { } r ? Math.Round(r.TotalSeconds, 1) : null);

    private static JobEpoch Epoch(EpochRecord e) =>
        new(e.Epoch + 1, e.TrainLoss, e.ValidationLoss, e.ValidationMetric, Math.Round(e.Seconds, 3), e.LearningRate);

    private string CheckpointPath(string id) => Path.Combine(_jobsDirectory, id, "checkpoint.bin");

    private void DeleteCheckpoint(string id)
    {
        try
        {
            string directory = Path.Combine(_jobsDirectory, id);
            if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        }
        catch (IOException e)
        {
            LogCleanupFailed(id, e.Message);
        }
    }

    [LoggerMessage(LogLevel.Information, "Training job {Job} found interrupted; it resumes {How}")]
    private partial void LogRecovered(string job, string how);

    [LoggerMessage(LogLevel.Information, "Training job {Job} succeeded: model {Model} version {Version}")]
    private partial void LogSucceeded(string job, string model, int version);

    [LoggerMessage(LogLevel.Information, "Training job {Job} was interrupted by shutdown; it resumes at the next start")]
    private partial void LogInterrupted(string job);

    [LoggerMessage(LogLevel.Information, "Training job {Job} was cancelled")]
    private partial void LogCancelled(string job);

    [LoggerMessage(LogLevel.Warning, "Training job {Job} failed: {Reason}")]
    private partial void LogFailed(Exception exception, string job, string reason);

    [LoggerMessage(LogLevel.Warning, "Could not remove the checkpoint of training job {Job}: {Reason}")]
    private partial void LogCleanupFailed(string job, string reason);
}

/// <summary>Reflection-based snake_case JSON for the free-form training records (metrics, config metadata).</summary>
internal static class TrainingJson
{
    public static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals,
        TypeInfoResolver = new System.Text.Json.Serialization.Metadata.DefaultJsonTypeInfoResolver(),
    };
}
