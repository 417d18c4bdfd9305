using System.Diagnostics;
using System.Numerics.Tensors;
using System.Text.Json;
using GruService.Engine.Training.Data;
using GruService.Engine.Training.Optimization;

namespace GruService.Engine.Training;

/// <summary>How to train. Every value has a default that works for small problems.</summary>
public sealed record TrainingSettings
{
    public int Epochs { get; init; } = 20;
    public int BatchSize { get; init; } = 64;
    public float LearningRate { get; init; } = 1e-3f;
    public float WeightDecay { get; init; }
    public OptimizerKind Optimizer { get; init; } = OptimizerKind.AdamW;

    /// <summary>Global gradient norm limit; 0 turns clipping off.</summary>
    public float ClipNorm { get; init; } = 1f;

    public ScheduleKind Schedule { get; init; } = ScheduleKind.Constant;
    public int WarmupEpochs { get; init; }
    public int StepEpochs { get; init; } = 10;
    public float Gamma { get; init; } = 0.1f;
    public float MinLearningRate { get; init; }

    /// <summary>Epochs without a better validation loss before stopping; 0 trains every epoch.</summary>
    public int Patience { get; init; } = 5;

    public ulong Seed { get; init; } = 1;

    /// <summary>Threads a batch is split over; the same seed and thread count give the same weights bit for bit.</summary>
    public int Threads { get; init; } = 1;
}

/// <summary>One finished epoch.</summary>
public sealed record EpochRecord(int Epoch, double TrainLoss, double? ValidationLoss, double? ValidationMetric, double Seconds, float LearningRate);

/// <summary>Where a run is, reported after every batch and every epoch.</summary>
public sealed record TrainingProgress(int Epoch, int Epochs, int Batch, int Batches, double TrainLoss, double? ValidationLoss,
    double? ValidationMetric, TimeSpan Elapsed, TimeSpan? Remaining, bool EpochCompleted);

/// <summary>
/// Everything needed to continue a run after the process stopped: weights, optimiser moments, the best weights so far,
/// the epoch history, and how far the epoch in progress had got. Taken after each epoch (<see cref="BatchesDone"/> 0),
/// and after the batch in progress when a run is told to checkpoint and stop (see <see cref="GruTrainer.Train"/>).
/// A resumed run gives the same weights bit for bit as one never stopped: the batch order, the dropout masks and the
/// learning rate follow from the seed, the epoch, the batch and the optimiser step, all of which this records.
/// </summary>
/// <param name="CompletedEpochs">Epochs finished; the epoch in progress is the one of this zero-based index.</param>
/// <param name="Parameters">The weights.</param>
/// <param name="FirstMoment">The optimiser's first moments.</param>
/// <param name="SecondMoment">The optimiser's second moments.</param>
/// <param name="OptimizerStep">Updates taken so far.</param>
/// <param name="BestParameters">The weights of the best epoch so far.</param>
/// <param name="BestValidationLoss">That epoch's validation loss (training loss without validation data).</param>
/// <param name="BestEpoch">That epoch, zero-based; −1 before any.</param>
/// <param name="EpochsWithoutImprovement">Epochs since, for early stopping.</param>
/// <param name="History">The finished epochs.</param>
/// <param name="ElapsedSeconds">Training time so far, over every run that led here.</param>
/// <param name="BatchesDone">Batches of the epoch in progress already trained; 0 at an epoch boundary.</param>
/// <param name="EpochLossSum">The summed training loss of those batches, so the epoch's mean loss comes out the same.</param>
/// <param name="EpochExamples">The examples in those batches.</param>
/// <param name="EpochSeconds">Time spent on the epoch in progress so far.</param>
public sealed record TrainingCheckpoint(
    int CompletedEpochs,
    float[] Parameters,
    float[] FirstMoment,
    float[] SecondMoment,
    long OptimizerStep,
    float[] BestParameters,
    double BestValidationLoss,
    int BestEpoch,
    int EpochsWithoutImprovement,
    IReadOnlyList<EpochRecord> History,
    double ElapsedSeconds,
    int BatchesDone = 0,
    double EpochLossSum = 0,
    long EpochExamples = 0,
    double EpochSeconds = 0)
{
    /// <summary>True when the checkpoint was taken inside an epoch rather than at its end.</summary>
    public bool IsMidEpoch => BatchesDone > 0;
}

/// <summary>A trained model with how it got there and how good it is.</summary>
public sealed record TrainingResult(
    GruModel Model,
    IReadOnlyList<EpochRecord> History,
    int BestEpoch,
    bool StoppedEarly,
    EvaluationResult? Validation,
    EvaluationResult? Test,
    double Seconds,
    double TrainingGflops);

/// <summary>
/// Mini-batch training with backpropagation through time: shuffled batches from a seed, each split into one shard per
/// thread whose gradients are summed in shard order (so a run is reproducible for a given thread count), global-norm
/// clipping, Adam or AdamW with a learning-rate schedule, dropout, and early stopping on validation loss with the best
/// weights restored. A run checkpoints after every epoch, and inside one when told to stop there.
/// </summary>
public sealed class GruTrainer(TrainingProblem problem, GruArchitecture architecture, TrainingSettings settings)
{
    public TrainingProblem Problem { get; } = problem;
    public GruArchitecture Architecture { get; } = architecture;
    public TrainingSettings Settings { get; } = settings;

    /// <summary>Batches in every epoch.</summary>
    public int BatchesPerEpoch => Problem.Count(DataPart.Train) == 0 ? 0 : Batches().BatchCount;

    /// <summary>Trains from the start, or from <paramref name="resumeFrom"/>, to the end of the run.</summary>
    /// <param name="metadata">Extra entries for the model's config.</param>
    /// <param name="resumeFrom">A checkpoint of the same problem and settings to continue from: at an epoch boundary or inside an epoch.</param>
    /// <param name="progress">Called after every batch and every epoch.</param>
    /// <param name="checkpoint">Called after every epoch, and when <paramref name="checkpointAndStop"/> stops the run.</param>
    /// <param name="cancellationToken">Stops the run before its next batch, with no checkpoint of the epoch in progress.</param>
    /// <param name="checkpointAndStop">
    /// Stops the run after the batch in progress, first handing <paramref name="checkpoint"/> a checkpoint of where it
    /// is inside the epoch, so that a run resumed from it loses nothing. Either token stopping the run throws
    /// <see cref="OperationCanceledException"/>; when both are cancelled, <paramref name="cancellationToken"/> wins.
    /// </param>
    public TrainingResult Train(
        IReadOnlyDictionary<string, JsonElement>? metadata = null,
        TrainingCheckpoint? resumeFrom = null,
        Action<TrainingProgress>? progress = null,
        Action<TrainingCheckpoint>? checkpoint = null,
        CancellationToken cancellationToken = default,
        CancellationToken checkpointAndStop = default)
    {
        if (Problem.Count(DataPart.Train) == 0) throw new ArgumentException("There are no training examples.");
        GruConfig config = Problem.CreateConfig(Architecture, metadata ?? new Dictionary<string, JsonElement>());
        var parameters = new GruParameters<float>(config);
        parameters.InitializeLikePyTorch(new Random((int)(Settings.Seed % int.MaxValue)));
        int count = parameters.Values.Length;
        var optimizer = new AdamOptimizer(count, Settings.Optimizer, Settings.WeightDecay);

        int threads = Math.Max(1, Settings.Threads);
        var step = new MiniBatchStep(config, count, threads);
        MiniBatchStep.Shard[] shards = step.Shards;
        MiniBatches batches = Batches();
        var schedule = new LearningRateSchedule(Settings.LearningRate, Settings.Schedule,
            Settings.WarmupEpochs * batches.BatchCount, Settings.StepEpochs, Settings.Gamma, Settings.MinLearningRate);
        int[] order = new int[batches.ItemCount];
        bool hasValidation = Problem.Count(DataPart.Validation) > 0;

        var history = new List<EpochRecord>();
        float[] best = [.. parameters.Values];
        double bestLoss = double.PositiveInfinity;
        int bestEpoch = -1, stale = 0, startEpoch = 0, startBatch = 0;
        double previousSeconds = 0;
        if (resumeFrom is not null)
        {
            if (resumeFrom.BatchesDone < 0 || resumeFrom.BatchesDone > batches.BatchCount || (resumeFrom.IsMidEpoch && resumeFrom.CompletedEpochs >= Settings.Epochs))
                throw new ArgumentException($"The checkpoint is at batch {resumeFrom.BatchesDone} of epoch {resumeFrom.CompletedEpochs + 1}, "
                    + $"which a run of {Settings.Epochs} epochs of {batches.BatchCount} batches does not have.", nameof(resumeFrom));
            resumeFrom.Parameters.CopyTo(parameters.Values, 0);
            optimizer.Restore(resumeFrom.FirstMoment, resumeFrom.SecondMoment, resumeFrom.OptimizerStep);
            best = [.. resumeFrom.BestParameters];
            (bestLoss, bestEpoch, stale, startEpoch) = (resumeFrom.BestValidationLoss, resumeFrom.BestEpoch, resumeFrom.EpochsWithoutImprovement, resumeFrom.CompletedEpochs);
            history.AddRange(resumeFrom.History);
            previousSeconds = resumeFrom.ElapsedSeconds;
            startBatch = resumeFrom.BatchesDone;
        }

        var clock = Stopwatch.StartNew();
        long stepsDone = 0;
        // The updates the checkpoint's previousSeconds paid for, which the time left is estimated over with this run's.
        long stepsBefore = (long)startEpoch * batches.BatchCount + startBatch;
        double flops = 0;
        // Resumed from the checkpoint written at the end of the epoch that stopped the run early (the process went
        // away before the job finished): the run has already stopped, and the best weights are in the checkpoint.
        bool stoppedEarly = resumeFrom is { IsMidEpoch: false } && StopsEarly(hasValidation, stale, startEpoch);
        for (int epoch = startEpoch; !stoppedEarly && epoch < Settings.Epochs; epoch++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var epochClock = Stopwatch.StartNew();
            batches.Shuffle(epoch, order);
            double lossSum = 0, epochSecondsBefore = 0;
            long examples = 0;
            float rate = 0;
            int firstBatch = 0;
            if (epoch == startEpoch && startBatch > 0)
            {
                (firstBatch, lossSum, examples, epochSecondsBefore) = (startBatch, resumeFrom!.EpochLossSum, resumeFrom.EpochExamples, resumeFrom.EpochSeconds);
                // The epoch's record carries the rate of its last update. Resumed after the epoch's last batch, the run
                // trains no batch of it to set that rate, so it is taken again from the schedule at that update's step.
                rate = schedule.At(epoch, Settings.Epochs, optimizer.Step - 1, batches.BatchCount);
            }
            for (int b = firstBatch; b < batches.BatchCount; b++)
            {
                cancellationToken.ThrowIfCancellationRequested();
                ReadOnlySpan<int> batch = order.AsSpan(batches.Batch(b));
                int[] positions = batch.ToArray();
                int batchIndex = b;
                double batchLoss = step.ComputeGradient(Problem, parameters, positions, Architecture.Dropout,
                    s => DropoutSeed(epoch, batchIndex, s), Settings.ClipNorm, out double batchFlops);
                flops += batchFlops;
                rate = schedule.At(epoch, Settings.Epochs, optimizer.Step, batches.BatchCount);
                optimizer.Update(parameters.Values, step.Gradient, rate);
                stepsDone++;

                lossSum += batchLoss;
                examples += positions.Length;
                // Mid-epoch reports carry the last finished epoch's validation figures.
                EpochRecord? last = history.Count > 0 ? history[^1] : null;
                progress?.Invoke(Progress(epoch, b + 1, batches.BatchCount, lossSum / examples, last?.ValidationLoss, last?.ValidationMetric,
                    clock.Elapsed, previousSeconds, stepsBefore, stepsDone, false));

                if (checkpointAndStop.IsCancellationRequested)
                {
                    // A plain cancellation as well means the run is not to be continued: nothing is saved.
                    cancellationToken.ThrowIfCancellationRequested();
                    checkpoint?.Invoke(new TrainingCheckpoint(epoch, [.. parameters.Values], optimizer.FirstMoment.ToArray(), optimizer.SecondMoment.ToArray(),
                        optimizer.Step, [.. best], bestLoss, bestEpoch, stale, [.. history], previousSeconds + clock.Elapsed.TotalSeconds,
                        b + 1, lossSum, examples, epochSecondsBefore + epochClock.Elapsed.TotalSeconds));
                    throw new OperationCanceledException($"Training stopped after batch {b + 1} of {batches.BatchCount} in epoch {epoch + 1} and checkpointed there.", checkpointAndStop);
                }
            }

            double trainLoss = lossSum / examples;
            EvaluationResult? validation = hasValidation ? Evaluate(parameters, DataPart.Validation, shards) : null;
            double monitored = validation?.Loss ?? trainLoss;
            history.Add(new EpochRecord(epoch, trainLoss, validation?.Loss, validation is null ? null : Metric(validation),
                epochSecondsBefore + epochClock.Elapsed.TotalSeconds, rate));
            if (monitored < bestLoss)
            {
                (bestLoss, bestEpoch, stale) = (monitored, epoch, 0);
                parameters.Values.CopyTo(best, 0);
            }
            else
            {
                stale++;
            }
            progress?.Invoke(Progress(epoch, batches.BatchCount, batches.BatchCount, trainLoss, validation?.Loss,
                validation is null ? null : Metric(validation), clock.Elapsed, previousSeconds, stepsBefore, stepsDone, true));
            checkpoint?.Invoke(new TrainingCheckpoint(epoch + 1, [.. parameters.Values], optimizer.FirstMoment.ToArray(), optimizer.SecondMoment.ToArray(),
                optimizer.Step, [.. best], bestLoss, bestEpoch, stale, [.. history], previousSeconds + clock.Elapsed.TotalSeconds));
            stoppedEarly = StopsEarly(hasValidation, stale, epoch + 1);
        }

        best.CopyTo(parameters.Values, 0);
        EvaluationResult? finalValidation = hasValidation ? Evaluate(parameters, DataPart.Validation, shards) : null;
        EvaluationResult? test = Problem.Count(DataPart.Test) > 0 ? Evaluate(parameters, DataPart.Test, shards) : null;
        double seconds = clock.Elapsed.TotalSeconds;
        return new TrainingResult(parameters.ToModel(), history, bestEpoch, stoppedEarly, finalValidation, test,
            previousSeconds + seconds, seconds > 0 ? flops / seconds / 1e9 : 0);
    }

    /// <summary>Whether a run stops after <paramref name="completedEpochs"/> epochs, the last <paramref name="stale"/> of them without a better validation loss.</summary>
    private bool StopsEarly(bool hasValidation, int stale, int completedEpochs) =>
        hasValidation && Settings.Patience > 0 && stale >= Settings.Patience && completedEpochs < Settings.Epochs;

    private MiniBatches Batches() => new(Problem.Count(DataPart.Train), Settings.BatchSize, Settings.Seed);

    /// <summary>Loss and metrics of the given weights on a part, computed in batches over the shards' threads.</summary>
    public EvaluationResult Evaluate(GruParameters<float> parameters, DataPart part) =>
        Evaluate(parameters, part, [new MiniBatchStep.Shard(parameters.Config, parameters.Values.Length)]);

    private EvaluationResult Evaluate(GruParameters<float> parameters, DataPart part, MiniBatchStep.Shard[] shards)
    {
        int total = Problem.Count(part), chunk = Math.Max(Settings.BatchSize, 256);
        object evaluation = Problem.BeginEvaluation();
        double lossSum = 0;
        int[] all = [.. Enumerable.Range(0, total)];
        for (int start = 0; start < total; start += chunk * shards.Length)
        {
            int end = Math.Min(total, start + chunk * shards.Length);
            int[] positions = all[start..end];
            Parallel.For(0, shards.Length, new ParallelOptions { MaxDegreeOfParallelism = shards.Length }, s =>
                shards[s].Run(Problem, part, parameters, positions[MiniBatches.Shard(positions.Length, shards.Length, s)], 0, 0, backward: false));
            for (int s = 0; s < shards.Length; s++)
            {
                int[] shardPositions = positions[MiniBatches.Shard(positions.Length, shards.Length, s)];
                if (shardPositions.Length == 0) continue;
                lossSum += shards[s].Loss;
                Problem.Accumulate(evaluation, shards[s].Pass.Outputs, shards[s].Buffers, shardPositions, part);
            }
        }
        return Problem.EndEvaluation(evaluation, part, total, total > 0 ? lossSum / total : double.NaN);
    }

    private static double Metric(EvaluationResult result) => result.Accuracy ?? result.Mse ?? result.Loss;

    private int DropoutSeed(int epoch, int batch, int shard) =>
        (int)(SplitMix(Settings.Seed ^ SplitMix(((ulong)(uint)epoch << 40) | ((ulong)(uint)batch << 8) | (uint)shard)) & int.MaxValue);

    private static ulong SplitMix(ulong x)
    {
        x += 0x9E3779B97F4A7C15UL;
        x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
        x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
        return x ^ (x >> 31);
    }

    /// <summary>
    /// The training time left: the time per update over every run of the job so far (epoch validations included)
    /// times the updates left; null before the first update. Counting the updates and seconds of the runs before a
    /// resume with this run's keeps the estimate steady after one: from this run alone it rests on a few batches, the
    /// first ones of a new process (slower until its code is compiled and its caches warm) and, when the run resumed
    /// near an epoch's end, an epoch's validation over the few batches before it.
    /// </summary>
    /// <param name="secondsBefore">Training time of the runs before this one (the checkpoint's).</param>
    /// <param name="stepsBefore">Updates those runs made (the checkpoint's).</param>
    /// <param name="secondsThisRun">Training time of this run.</param>
    /// <param name="stepsThisRun">Updates this run made.</param>
    /// <param name="stepsLeft">Updates left in the run (early stopping aside).</param>
    public static TimeSpan? EstimateRemaining(double secondsBefore, long stepsBefore, double secondsThisRun, long stepsThisRun, long stepsLeft)
    {
        if (stepsThisRun <= 0) return null;
        long steps = Math.Max(0, stepsBefore) + stepsThisRun;
        double seconds = Math.Max(0, secondsBefore) + secondsThisRun;
        return TimeSpan.FromSeconds(seconds / steps * Math.Max(0, stepsLeft));
    }

    private TrainingProgress Progress(int epoch, int batch, int batches, double trainLoss, double? validationLoss, double? metric,
        TimeSpan elapsed, double previousSeconds, long stepsBefore, long stepsDone, bool completed)
    {
        long stepsLeft = (long)(Settings.Epochs - epoch) * batches - batch;
        TimeSpan? remaining = EstimateRemaining(previousSeconds, stepsBefore, elapsed.TotalSeconds, stepsDone, stepsLeft);
        return new TrainingProgress(epoch + 1, Settings.Epochs, batch, batches, trainLoss, validationLoss, metric,
            elapsed + TimeSpan.FromSeconds(previousSeconds), remaining, completed);
    }
}
