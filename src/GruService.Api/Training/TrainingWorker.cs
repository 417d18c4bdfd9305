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
/// Runs training jobs, ConcurrentJobs at a time, claimed from the job store (the store is the queue; see
/// <see cref="IJobStore"/>). While a job runs, a heartbeat renews its lease; every write to it checks the lease is
/// still held. Each job checkpoints after every epoch into the store; a job whose worker is gone (a replica that
/// died, or this process before a restart, even by kill -9) is claimed again and resumes from its last checkpoint,
/// or from the start when it had none, so no job is lost or left stuck at running. On a graceful stop (SIGTERM) the
/// running job finishes the batch in progress as soon as the host is told to stop, rather than after the server has
/// drained, saves a checkpoint of that point of its epoch while it still holds its lease, then releases the lease and
/// stays running: claimed again, it resumes from the next batch, and only the batch cut short by a kill is lost. A
/// batch and one write take well under the shutdown timeout.
/// </summary>
public sealed partial class TrainingWorker(
    IJobStore jobs,
    TrainingJobSignal signal,
    IDatasetStore datasets,
    ModelRegistry registry,
    TrainingMetrics metrics,
    IOptions<TrainingJobOptions> options,
    IOptions<ModelOptions> models,
    IOptions<StorageOptions> storage,
    IHostApplicationLifetime lifetime,
    ILogger<TrainingWorker> logger) : BackgroundService
{
    private readonly ConcurrentDictionary<string, RunningJob> _running = new();

    /// <summary>This worker's name in job leases: unique to the process start, and says where a job runs.</summary>
    public string Id { get; } = $"{Environment.MachineName}/{Environment.ProcessId}/{Guid.NewGuid():N}";

    private TimeSpan Lease => TimeSpan.FromSeconds(storage.Value.Postgres.LeaseSeconds);
    private TimeSpan Heartbeat => TimeSpan.FromSeconds(storage.Value.Postgres.HeartbeatSeconds);
    private TimeSpan Poll => TimeSpan.FromSeconds(storage.Value.Postgres.PollSeconds);

    /// <summary>Asks a job running in this process to stop; false when it does not run here.</summary>
    public bool CancelRunning(string id)
    {
        if (!_running.TryGetValue(id, out RunningJob? run)) return false;
        run.Cancel();
        return true;
    }

    protected override async Task ExecuteAsync(CancellationToken hostStopping)
    {
        // Let the host finish starting (and the registry load) before jobs take the CPU.
        await Task.Yield();
        // ApplicationStopping fires when the stop begins; the worker's own token only once the web server has drained.
        using var stopping = CancellationTokenSource.CreateLinkedTokenSource(hostStopping, lifetime.ApplicationStopping);
        CancellationToken stoppingToken = stopping.Token;
        await Task.WhenAll(Enumerable.Range(0, options.Value.ConcurrentJobs).Select(_ => ClaimAndRunAsync(stoppingToken)));
    }

    private async Task ClaimAndRunAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                long claimedAt = Stopwatch.GetTimestamp();
                JobClaim? claim = null;
                try
                {
                    claim = await jobs.TryClaimNextAsync(Id, Lease, stoppingToken);
                }
                catch (StorageUnavailableException e)
                {
                    LogClaimFailed(e.Message);
                }
                if (claim is null)
                {
                    await signal.WaitAsync(Poll, stoppingToken);
                    continue;
                }
                signal.JobQueued(); // there may be more jobs waiting: another idle worker can look
                await RunAsync(claim, claimedAt, stoppingToken);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Shutting down: a running job keeps its checkpoint and is taken over (or resumed at the next start).
        }
    }

    private async Task RunAsync(JobClaim claim, long claimedAt, CancellationToken stoppingToken)
    {
        string id = claim.Job.Id;
        using var run = new RunningJob(stoppingToken);
        _running[id] = run;
        using var heartbeatStop = new CancellationTokenSource();
        Task heartbeat = KeepLeaseAsync(id, run, claimedAt, heartbeatStop.Token);
        try
        {
            JobResult result = await TrainAsync(claim, run);
            if (await FinishAsync(id, run, stoppingToken, j => j.Ended(JobStatus.Succeeded) with { Result = result }))
            {
                await DeleteCheckpointAsync(id);
                LogSucceeded(id, result.Model, result.Version);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            LogInterrupted(id);
            await ReleaseAsync(id);
            throw;
        }
        catch (OperationCanceledException) when (run.LeaseLost)
        {
            LogLeaseLost(id);
        }
        catch (OperationCanceledException)
        {
            if (await FinishAsync(id, run, stoppingToken, j => j.Ended(JobStatus.Cancelled)))
            {
                await DeleteCheckpointAsync(id);
                LogCancelled(id);
            }
        }
        catch (StorageUnavailableException e)
        {
            // Not the job's fault: it is let go, to be claimed again (here or by another replica) when storage is back.
            LogStorageFailedDuringJob(id, e.Message);
            await ReleaseAsync(id);
        }
        catch (Exception e) when (e is TrainingDataException or TrainingRequestException or ModelFileException or KeyNotFoundException
            or InvalidOperationException or InvalidDataException or ArgumentException or IOException or OutOfMemoryException)
        {
            string reason = e is IOException or InvalidDataException or OutOfMemoryException ? $"{e.GetType().Name}: {e.Message}" : e.Message;
            // A failed job is final, like a cancelled one: nothing resumes from its checkpoint.
            if (await FinishAsync(id, run, stoppingToken, j => j.Ended(JobStatus.Failed) with { Error = reason }))
                await DeleteCheckpointAsync(id);
            LogFailed(e, id, reason);
        }
        finally
        {
            await heartbeatStop.CancelAsync();
            await heartbeat;
            _running.TryRemove(id, out _);
            metrics.JobEnded(id);
        }
    }

    /// <summary>
    /// Renews the job's lease every heartbeat until the job ends. When the job was cancelled, or the lease is lost
    /// (another worker holds the job, or the store could not be reached for a whole lease, after which another may
    /// take it over), the run is stopped.
    /// </summary>
    private async Task KeepLeaseAsync(string id, RunningJob run, long renewedAt, CancellationToken stop)
    {
        try
        {
            while (true)
            {
                await Task.Delay(Heartbeat, stop);
                long attempt = Stopwatch.GetTimestamp();
                LeaseState state;
                try
                {
                    state = await jobs.RenewLeaseAsync(id, Id, Lease, stop);
                    renewedAt = attempt;
                }
                catch (StorageUnavailableException e)
                {
                    LogHeartbeatFailed(id, e.Message);
                    if (Stopwatch.GetElapsedTime(renewedAt) < Lease) continue;
                    state = LeaseState.Lost;
                }
                if (state == LeaseState.Held) continue;
                if (state == LeaseState.Lost) run.LoseLease();
                else run.Cancel();
                return;
            }
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            // The job ended.
        }
    }

    /// <summary>
    /// Records how the job ended, retrying while the store is unreachable and the lease may still be held.
    /// False when the job is no longer this worker's to finish.
    /// </summary>
    private async Task<bool> FinishAsync(string id, RunningJob run, CancellationToken stoppingToken, Func<TrainingJob, TrainingJob> change)
    {
        while (true)
        {
            try
            {
                if (await jobs.UpdateClaimedAsync(id, Id, change, CancellationToken.None) is not null) return true;
                LogLeaseLost(id);
                return false;
            }
            catch (StorageUnavailableException e) when (!run.LeaseLost && !stoppingToken.IsCancellationRequested)
            {
                LogFinishRetry(id, e.Message);
                await Task.Delay(Poll, CancellationToken.None);
            }
            catch (StorageUnavailableException e)
            {
                LogFinishRetry(id, e.Message);
                return false;
            }
        }
    }

    private async Task ReleaseAsync(string id)
    {
        try
        {
            await jobs.ReleaseLeaseAsync(id, Id, CancellationToken.None);
        }
        catch (StorageUnavailableException e)
        {
            LogReleaseFailed(id, e.Message); // the lease expires instead
        }
    }

    /// <summary>A write to the job while it trains; a store outage skips it (the next one catches up), a lost lease stops the run.</summary>
    private async Task WhileHeldAsync(RunningJob run, string id, Func<Task<bool>> write)
    {
        try
        {
            if (!await write()) run.LoseLease();
        }
        catch (StorageUnavailableException e)
        {
            LogProgressSkipped(id, e.Message);
        }
    }

    /// <summary>
    /// Loads the job's data and checkpoint, trains, and publishes the model. Only the training itself, CPU-bound and
    /// synchronous, runs on a thread of its own, off the thread pool that serves requests; the I/O around it is
    /// asynchronous.
    /// </summary>
    private async Task<JobResult> TrainAsync(JobClaim claim, RunningJob run)
    {
        TrainingJob job = claim.Job;
        TrainingJobRequest request = job.Request.Deserialize(GruJsonContext.Default.TrainingJobRequest)
            ?? throw new TrainingRequestException("The job's request is empty.");
        TrainingPlan plan;
        TrainingProblem problem;
        using (var loading = CancellationTokenSource.CreateLinkedTokenSource(run.Token, run.HostStopping))
        {
            // The limits the submission was checked against: a job within configured limits above the defaults must train.
            plan = await TrainingPlan.CreateAsync(request, datasets, models.Value.Limits, options.Value.Threads, loading.Token);
            problem = await plan.LoadProblemAsync(datasets, loading.Token);
        }

        var trainer = new GruTrainer(problem, plan.Architecture, plan.Settings);
        TrainingCheckpoint? resume = await jobs.LoadCheckpointAsync(job.Id, CancellationToken.None);
        if (claim.TakenOver)
        {
            LogRecovered(job.Id, resume switch
            {
                null => "from the start (it had no checkpoint)",
                { IsMidEpoch: true } => $"from its checkpoint in epoch {resume.CompletedEpochs + 1} after batch {resume.BatchesDone} of {trainer.BatchesPerEpoch}",
                _ => $"from its checkpoint after epoch {resume.CompletedEpochs}",
            });
            await WhileHeldAsync(run, job.Id, async () => await jobs.UpdateClaimedAsync(job.Id, Id,
                j => j with { ResumedFromEpoch = resume?.CompletedEpochs ?? 0, ResumedFromBatch = resume?.BatchesDone ?? 0 }, CancellationToken.None) is not null);
        }

        TrainingResult result = await Task.Factory.StartNew(() => Train(trainer, resume, job.Id, plan, run),
            run.Token, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        // A worker that lost the job must not publish what it trained: the job's new holder will. One shutting down
        // leaves it to the run that resumes the job from its last checkpoint, as a stop during the run would have.
        run.HostStopping.ThrowIfCancellationRequested();
        run.Token.ThrowIfCancellationRequested();

        JsonElement metricsJson = JsonSerializer.SerializeToElement(new { validation = result.Validation, test = result.Test }, TrainingJson.Options);
        GruModel model = WithTrainingRecord(result, problem, plan, job, metricsJson);
        ServedModel served = await registry.PublishAsync(plan.Model, ModelFile.Write(model), plan.Activate, CancellationToken.None);
        return new JobResult(plan.Model, served.Version, registry.TryGet(plan.Model, out ServedModel active) && active.Version == served.Version,
            metricsJson, result.BestEpoch + 1, result.StoppedEarly, Math.Round(result.Seconds, 3), Math.Round(result.TrainingGflops, 2));
    }

    /// <summary>
    /// The training, on the job's own thread. The trainer reports progress and checkpoints through synchronous
    /// callbacks, so their writes to the store are waited for here: this thread runs nothing else meanwhile.
    /// </summary>
    private TrainingResult Train(GruTrainer trainer, TrainingCheckpoint? resume, string id, TrainingPlan plan, RunningJob run)
    {
        void Write(Func<Task<bool>> write) => WhileHeldAsync(run, id, write).GetAwaiter().GetResult();

        long lastWrite = 0;
        long interval = (long)(options.Value.ProgressIntervalSeconds * Stopwatch.Frequency);
        TrainingProgress? latest = null;
        return trainer.Train(resumeFrom: resume,
            progress: p =>
            {
                latest = p;
                if (!p.EpochCompleted && Stopwatch.GetTimestamp() - lastWrite < interval) return;
                lastWrite = Stopwatch.GetTimestamp();
                Write(async () => await jobs.UpdateClaimedAsync(id, Id, j => j with { Progress = Progress(p) }, CancellationToken.None) is not null);
            },
            checkpoint: c =>
            {
                bool saved = false;
                Write(async () => saved = await jobs.SaveCheckpointAsync(id, Id, c, CancellationToken.None));
                if (c.IsMidEpoch)
                {
                    if (!saved) return; // the store failed, or the job is no longer this worker's: it resumes from its previous checkpoint
                    // Taken on shutdown: the job's progress shows where it will resume, whatever the reporting interval skipped.
                    if (latest is { } reached)
                        Write(async () => await jobs.UpdateClaimedAsync(id, Id, j => j with { Progress = Progress(reached) }, CancellationToken.None) is not null);
                    LogCheckpointedOnShutdown(id, c.CompletedEpochs + 1, c.BatchesDone, trainer.BatchesPerEpoch);
                    return;
                }
                EpochRecord last = c.History[^1];
                metrics.RecordEpoch(id, plan.Model, last.Seconds, last.TrainLoss, last.ValidationLoss);
                Write(async () => await jobs.UpdateClaimedAsync(id, Id, j => j with { History = [.. c.History.Select(Epoch)] }, CancellationToken.None) is not null);
            },
            cancellationToken: run.Token,
            checkpointAndStop: run.HostStopping);
    }

    /// <summary>
    /// The model's card carries the job, dataset, request (inline data described, not copied), the settings it trained
    /// with (every default filled in: the request leaves them out), metrics and duration, and for a forecast model the
    /// names of its input and target columns, so a caller knows which feature goes where in <c>inputs</c>.
    /// A classifier's data has no feature names (NDJSON steps are bare arrays), so it records none; its labels are the
    /// config's classes.
    /// </summary>
    private static GruModel WithTrainingRecord(TrainingResult result, TrainingProblem problem, TrainingPlan plan, TrainingJob job, JsonElement metricsJson)
    {
        GruConfig c = result.Model.Config;
        var extra = new Dictionary<string, JsonElement>(c.Extra);
        if (problem is ForecastProblem forecast)
        {
            extra[GruConfig.FeatureNamesKey] = JsonSerializer.SerializeToElement(forecast.Windows.InputColumns, TrainingJson.Options);
            extra[GruConfig.TargetNamesKey] = JsonSerializer.SerializeToElement(forecast.Windows.TargetColumns, TrainingJson.Options);
        }
        extra["training"] = JsonSerializer.SerializeToElement(new Dictionary<string, object?>
        {
            ["job"] = job.Id,
            ["dataset"] = plan.Dataset,
            ["trained_at"] = DateTimeOffset.UtcNow,
            ["seconds"] = Math.Round(result.Seconds, 3),
            ["epochs_run"] = result.History.Count,
            ["best_epoch"] = result.BestEpoch + 1,
            ["stopped_early"] = result.StoppedEarly,
            ["metrics"] = metricsJson,
            // Without inline data, which could outgrow the file's header and would be copied into every card.
            ["request"] = TrainingRequestSummary.WithoutInlineData(job.Request),
            ["settings"] = plan.EffectiveSettings(problem as ForecastProblem),
        }, TrainingJson.Options);
        return new GruModel(c with { Extra = extra }, result.Model.Directions, result.Model.HeadWeight, result.Model.HeadBias);
    }

    private static JobProgress Progress(TrainingProgress p) => new(p.Epoch, p.Epochs, p.Batch, p.Batches, Math.Round(p.TrainLoss, 6),
        p.ValidationLoss, p.ValidationMetric, Math.Round(p.Elapsed.TotalSeconds, 3), p.Remaining is { } r ? Math.Round(r.TotalSeconds, 1) : null);

    private static JobEpoch Epoch(EpochRecord e) =>
        new(e.Epoch + 1, e.TrainLoss, e.ValidationLoss, e.ValidationMetric, Math.Round(e.Seconds, 3), e.LearningRate);

    private async Task DeleteCheckpointAsync(string id)
    {
        try
        {
            await jobs.DeleteCheckpointAsync(id, CancellationToken.None);
        }
        catch (IOException e)
        {
            LogCleanupFailed(id, e.Message);
        }
    }

    /// <summary>
    /// Stops a running job: by request (<see cref="Cancel"/>) or because another worker holds it now
    /// (<see cref="LoseLease"/>), both through <see cref="Token"/>, with nothing more saved; or because the host is
    /// stopping (<see cref="HostStopping"/>), after a checkpoint of where it is.
    /// </summary>
    private sealed class RunningJob(CancellationToken hostStopping) : IDisposable
    {
        private readonly CancellationTokenSource _cancellation = new();
        private volatile bool _leaseLost;

        public CancellationToken Token => _cancellation.Token;

        public CancellationToken HostStopping { get; } = hostStopping;

        public bool LeaseLost => _leaseLost;

        public void Cancel() => _cancellation.Cancel();

        public void LoseLease()
        {
            _leaseLost = true;
            _cancellation.Cancel();
        }

        public void Dispose() => _cancellation.Dispose();
    }

    [LoggerMessage(LogLevel.Information, "Training job {Job} was left running by a worker that is gone; it resumes {How}")]
    private partial void LogRecovered(string job, string how);

    [LoggerMessage(LogLevel.Information, "Training job {Job} succeeded: model {Model} version {Version}")]
    private partial void LogSucceeded(string job, string model, int version);

    [LoggerMessage(LogLevel.Information, "Training job {Job} was interrupted by shutdown; it resumes from its last checkpoint when claimed again")]
    private partial void LogInterrupted(string job);

    [LoggerMessage(LogLevel.Information, "Checkpointed training job {Job} in epoch {Epoch} after batch {Batch} of {Batches} on shutdown")]
    private partial void LogCheckpointedOnShutdown(string job, int epoch, int batch, int batches);

    [LoggerMessage(LogLevel.Warning, "Training job {Job} is held by another worker now (this one's lease ran out); it stopped here without recording anything")]
    private partial void LogLeaseLost(string job);

    [LoggerMessage(LogLevel.Warning, "Could not claim a training job: {Reason}")]
    private partial void LogClaimFailed(string reason);

    [LoggerMessage(LogLevel.Warning, "Could not renew the lease of training job {Job}: {Reason}")]
    private partial void LogHeartbeatFailed(string job, string reason);

    [LoggerMessage(LogLevel.Warning, "Could not record the end of training job {Job} yet: {Reason}")]
    private partial void LogFinishRetry(string job, string reason);

    [LoggerMessage(LogLevel.Warning, "Could not release training job {Job}; its lease will expire instead: {Reason}")]
    private partial void LogReleaseFailed(string job, string reason);

    [LoggerMessage(LogLevel.Warning, "Could not record the progress of training job {Job}: {Reason}")]
    private partial void LogProgressSkipped(string job, string reason);

    [LoggerMessage(LogLevel.Warning, "Training job {Job} stopped because storage is unavailable; it will be claimed again: {Reason}")]
    private partial void LogStorageFailedDuringJob(string job, string reason);

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
