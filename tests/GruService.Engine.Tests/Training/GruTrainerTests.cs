using GruService.Engine.Training;
using GruService.Engine.Training.Data;
using GruService.Engine.Training.Optimization;

namespace GruService.Engine.Tests.Training;

public class GruTrainerTests
{
    /// <summary>A noisy sine (period 20) with a slow drift: 600 hourly-like rows, one column.</summary>
    private static ForecastProblem SineProblem()
    {
        var random = new Random(3);
        float[] values = [.. Enumerable.Range(0, 600).Select(t => (float)(Math.Sin(2 * Math.PI * t / 20) + 0.002 * t + 0.05 * (random.NextDouble() - 0.5)))];
        var data = new TimeSeriesSet(["y"], [values]);
        var windows = new ForecastWindows(data, new ForecastWindowOptions { Window = 24, Horizon = 4, Split = ForecastSplit.Fractional(0.2) });
        return new ForecastProblem(windows);
    }

    /// <summary>Three classes of 2-feature sequences of 6 to 12 steps: rising, falling, oscillating, with noise.</summary>
    private static ClassificationProblem PatternProblem()
    {
        var random = new Random(5);
        var sequences = new List<float[]>();
        var labels = new List<string>();
        string[] kinds = ["rising", "falling", "wave"];
        for (int i = 0; i < 450; i++)
        {
            string kind = kinds[i % 3];
            int length = 6 + random.Next(7);
            var steps = new float[length * 2];
            for (int t = 0; t < length; t++)
            {
                float signal = kind switch { "rising" => t / 4f, "falling" => -t / 4f, _ => MathF.Sin(t * 1.7f) };
                steps[2 * t] = signal + 0.3f * (float)(random.NextDouble() - 0.5);
                steps[2 * t + 1] = (float)random.NextDouble();
            }
            sequences.Add(steps);
            labels.Add(kind);
        }
        return new ClassificationProblem(new SequenceSet(2, sequences, labels).Split(0.2, seed: 9));
    }

    [Fact]
    public void Train_LearnsASineForecast()
    {
        var trainer = new GruTrainer(SineProblem(), new GruArchitecture(HiddenSize: 16),
            new TrainingSettings { Epochs = 25, BatchSize = 32, LearningRate = 1e-2f, Seed = 7, Patience = 0 });
        TrainingResult result = trainer.Train();

        // The noise alone has variance ≈ 0.0002; predicting the mean would give ≈ 0.5.
        Assert.True(result.Validation!.Mse < 0.01, $"validation MSE {result.Validation.Mse}");
        Assert.True(result.Validation.Mase < 0.5, $"validation MASE {result.Validation.Mase}");
        Assert.Equal(GruTask.Forecast, result.Model.Config.Task);
        Assert.Equal(4, result.Model.Config.Horizon);
        Assert.NotNull(result.Model.Config.InputMean);
    }

    [Fact]
    public void Train_LearnsAPatternClassifier_OnRaggedSequences()
    {
        var trainer = new GruTrainer(PatternProblem(), new GruArchitecture(HiddenSize: 12),
            new TrainingSettings { Epochs = 15, BatchSize = 32, LearningRate = 1e-2f, Seed = 11, Patience = 0 });
        TrainingResult result = trainer.Train();

        Assert.True(result.Validation!.Accuracy >= 0.95, $"validation accuracy {result.Validation.Accuracy}");
        Assert.True(result.Validation.MacroF1 >= 0.95, $"validation macro-F1 {result.Validation.MacroF1}");
        Assert.Equal(["falling", "rising", "wave"], result.Model.Config.Classes.Order());
        Assert.Equal(90, result.Validation.ConfusionMatrix!.Sum(row => row.Sum()));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void Train_GivesTheSameWeightsBitForBit_ForTheSameSeedAndThreads(int threads)
    {
        float[] Run(ulong seed) => new GruTrainer(PatternProblem(), new GruArchitecture(HiddenSize: 8, NumLayers: 2, Bidirectional: true, Dropout: 0.2),
                new TrainingSettings { Epochs = 2, BatchSize = 16, Seed = seed, Threads = threads })
            .Train().Model.Directions.SelectMany(d => d.WeightHh).ToArray();

        float[] first = Run(21), second = Run(21), other = Run(22);
        Assert.Equal(first, second);
        Assert.NotEqual(first, other);
    }

    [Fact]
    public void Train_ResumedFromACheckpoint_EndsWithTheSameWeightsAsAnUninterruptedRun()
    {
        var settings = new TrainingSettings { Epochs = 4, BatchSize = 32, Seed = 4, Patience = 0, Threads = 2 };
        var architecture = new GruArchitecture(HiddenSize: 8, Dropout: 0.1);
        TrainingResult straight = new GruTrainer(SineProblem(), architecture, settings).Train();

        TrainingCheckpoint? afterTwo = null;
        using var stop = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => new GruTrainer(SineProblem(), architecture, settings).Train(
            checkpoint: c => { if (c.CompletedEpochs == 2) { afterTwo = c; stop.Cancel(); } },
            cancellationToken: stop.Token));
        Assert.NotNull(afterTwo);

        TrainingResult resumed = new GruTrainer(SineProblem(), architecture, settings).Train(resumeFrom: afterTwo);
        Assert.Equal(straight.Model.HeadWeight, resumed.Model.HeadWeight);
        Assert.Equal(straight.Model.Directions[0].WeightIh, resumed.Model.Directions[0].WeightIh);
        Assert.Equal(straight.History.Select(h => h.TrainLoss), resumed.History.Select(h => h.TrainLoss));
    }

    /// <summary>Two layers (so both dropout masks are drawn), warm-up and a cosine schedule (so the rate changes every step), validation.</summary>
    private static readonly GruArchitecture MidEpochArchitecture = new(HiddenSize: 8, NumLayers: 2, Dropout: 0.2);

    private static TrainingSettings MidEpochSettings(int threads) => new()
    {
        Epochs = 4, BatchSize = 32, LearningRate = 5e-3f, Schedule = ScheduleKind.Cosine, WarmupEpochs = 1,
        Seed = 6, Patience = 0, Threads = threads,
    };

    /// <summary>
    /// Trains, stopping with checkpointAndStop after each (zero-based epoch, batches done) in turn and resuming from
    /// the checkpoint that stop saved (through the file format when asked): the result, every progress report with
    /// its timings left out, and the checkpoints saved on stopping.
    /// </summary>
    private static (TrainingResult Result, List<TrainingProgress> Reports, List<TrainingCheckpoint> Stops) TrainWithStops(
        int threads, (int Epoch, int Batch)[] stops, bool throughBytes)
    {
        var reports = new List<TrainingProgress>();
        var saved = new List<TrainingCheckpoint>();
        TrainingCheckpoint? resume = null;
        foreach ((int epoch, int batch) in stops)
        {
            using var stop = new CancellationTokenSource();
            TrainingCheckpoint? taken = null;
            Assert.ThrowsAny<OperationCanceledException>(() => new GruTrainer(SineProblem(), MidEpochArchitecture, MidEpochSettings(threads)).Train(
                resumeFrom: resume,
                progress: p =>
                {
                    reports.Add(p);
                    if (p.Epoch == epoch + 1 && p.Batch == batch && !p.EpochCompleted) stop.Cancel();
                },
                checkpoint: c => { if (stop.IsCancellationRequested) taken = c; },
                checkpointAndStop: stop.Token));
            Assert.NotNull(taken);
            saved.Add(taken);
            resume = throughBytes ? TrainingCheckpointFile.FromBytes(TrainingCheckpointFile.ToBytes(taken), "the checkpoint") : taken;
        }
        TrainingResult result = new GruTrainer(SineProblem(), MidEpochArchitecture, MidEpochSettings(threads)).Train(resumeFrom: resume, progress: reports.Add);
        return (result, reports, saved);
    }

    private static float[] AllWeights(GruModel model) =>
        [.. model.Directions.SelectMany(d => d.WeightIh.Concat(d.WeightHh).Concat(d.BiasIh).Concat(d.BiasHh)), .. model.HeadWeight, .. model.HeadBias];

    private static object HistoryWithoutSeconds(TrainingResult result) =>
        result.History.Select(e => (e.Epoch, e.TrainLoss, e.ValidationLoss, e.ValidationMetric, e.LearningRate)).ToArray();

    private static object ReportsWithoutTimes(IEnumerable<TrainingProgress> reports) =>
        reports.Select(p => (p.Epoch, p.Batch, p.Batches, p.TrainLoss, p.ValidationLoss, p.ValidationMetric, p.EpochCompleted)).ToArray();

    [Theory]
    [InlineData(1, 0, 5, false)]
    [InlineData(2, 0, 5, true)]
    [InlineData(1, 2, 9, true)]
    [InlineData(2, 2, 1, false)]
    public void Train_ResumedMidEpoch_GivesBitIdenticalWeightsHistoryAndProgress(int threads, int stopEpoch, int stopBatch, bool throughBytes)
    {
        var straightReports = new List<TrainingProgress>();
        TrainingResult straight = new GruTrainer(SineProblem(), MidEpochArchitecture, MidEpochSettings(threads)).Train(progress: straightReports.Add);
        Assert.True(new GruTrainer(SineProblem(), MidEpochArchitecture, MidEpochSettings(threads)).BatchesPerEpoch > stopBatch);

        var (resumed, reports, stops) = TrainWithStops(threads, [(stopEpoch, stopBatch)], throughBytes);

        TrainingCheckpoint saved = Assert.Single(stops);
        Assert.Equal(stopEpoch, saved.CompletedEpochs);
        Assert.Equal(stopBatch, saved.BatchesDone);
        Assert.True(saved.IsMidEpoch);
        Assert.Equal(stopEpoch, saved.History.Count);
        Assert.Equal(AllWeights(straight.Model), AllWeights(resumed.Model));
        Assert.Equal(HistoryWithoutSeconds(straight), HistoryWithoutSeconds(resumed));
        Assert.Equal(straight.BestEpoch, resumed.BestEpoch);
        Assert.Equal(straight.Validation!.Loss, resumed.Validation!.Loss);
        // The resumed run reports from the batch after the stop, with the epoch's running loss carried over.
        Assert.Equal(ReportsWithoutTimes(straightReports), ReportsWithoutTimes(reports));
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    [InlineData(1, 3)]
    public void Train_StoppedAfterAnEpochsLastBatch_ResumesToBitIdenticalWeightsAndHistory(int threads, int stopEpoch)
    {
        TrainingResult straight = new GruTrainer(SineProblem(), MidEpochArchitecture, MidEpochSettings(threads)).Train();
        int lastBatch = new GruTrainer(SineProblem(), MidEpochArchitecture, MidEpochSettings(threads)).BatchesPerEpoch;

        var (resumed, _, stops) = TrainWithStops(threads, [(stopEpoch, lastBatch)], throughBytes: true);

        // Every batch of the epoch is done but it has not been evaluated or recorded: the resumed run does that.
        Assert.Equal(lastBatch, stops[0].BatchesDone);
        Assert.Equal(stopEpoch, stops[0].History.Count);
        Assert.Equal(AllWeights(straight.Model), AllWeights(resumed.Model));
        Assert.Equal(HistoryWithoutSeconds(straight), HistoryWithoutSeconds(resumed));
    }

    [Fact]
    public void Train_ResumedFromTheCheckpointOfTheEpochThatStoppedIt_StopsWithoutAnotherEpoch()
    {
        // A high rate and a patience of one: validation loss soon fails to improve once, and the run stops early.
        var settings = new TrainingSettings { Epochs = 30, BatchSize = 32, LearningRate = 5e-2f, Seed = 3, Patience = 1, Threads = 2 };
        var checkpoints = new List<TrainingCheckpoint>();
        TrainingResult straight = new GruTrainer(SineProblem(), MidEpochArchitecture, settings).Train(checkpoint: checkpoints.Add);
        Assert.True(straight.StoppedEarly, $"the run trained all {straight.History.Count} epochs");

        // The process went away after saving the last epoch's checkpoint, before the job could finish.
        TrainingCheckpoint last = checkpoints[^1];
        Assert.Equal(straight.History.Count, last.CompletedEpochs);
        TrainingResult resumed = new GruTrainer(SineProblem(), MidEpochArchitecture, settings).Train(resumeFrom: last);

        Assert.True(resumed.StoppedEarly);
        Assert.Equal(HistoryWithoutSeconds(straight), HistoryWithoutSeconds(resumed));
        Assert.Equal(straight.BestEpoch, resumed.BestEpoch);
        Assert.Equal(AllWeights(straight.Model), AllWeights(resumed.Model));
    }

    [Fact]
    public void Train_StoppedSeveralTimes_InOneEpochAndAcrossEpochs_GivesBitIdenticalWeights()
    {
        TrainingResult straight = new GruTrainer(SineProblem(), MidEpochArchitecture, MidEpochSettings(2)).Train();

        var (resumed, _, stops) = TrainWithStops(2, [(1, 2), (1, 7), (2, 4)], throughBytes: true);

        Assert.Equal([(1, 2), (1, 7), (2, 4)], stops.Select(c => (c.CompletedEpochs, c.BatchesDone)));
        // The second stop's running loss includes the first part's.
        Assert.True(stops[1].EpochExamples > stops[0].EpochExamples);
        Assert.Equal(AllWeights(straight.Model), AllWeights(resumed.Model));
        Assert.Equal(HistoryWithoutSeconds(straight), HistoryWithoutSeconds(resumed));
    }

    [Fact]
    public void Train_PlainCancellation_SavesNoCheckpointOfTheEpochInProgress()
    {
        var saved = new List<TrainingCheckpoint>();
        using (var cancel = new CancellationTokenSource())
        {
            Assert.ThrowsAny<OperationCanceledException>(() => new GruTrainer(SineProblem(), MidEpochArchitecture, MidEpochSettings(1)).Train(
                progress: p => { if (p.Epoch == 2 && p.Batch == 3) cancel.Cancel(); },
                checkpoint: saved.Add,
                cancellationToken: cancel.Token));
        }
        TrainingCheckpoint epochEnd = Assert.Single(saved);
        Assert.Equal(1, epochEnd.CompletedEpochs);
        Assert.False(epochEnd.IsMidEpoch);

        // Cancelled and told to checkpoint in the same batch: the cancellation wins, so a cancelled job leaves nothing to resume.
        saved.Clear();
        using var cancelToo = new CancellationTokenSource();
        using var stop = new CancellationTokenSource();
        Assert.ThrowsAny<OperationCanceledException>(() => new GruTrainer(SineProblem(), MidEpochArchitecture, MidEpochSettings(1)).Train(
            progress: p => { if (p.Epoch == 1 && p.Batch == 3) { stop.Cancel(); cancelToo.Cancel(); } },
            checkpoint: saved.Add,
            cancellationToken: cancelToo.Token,
            checkpointAndStop: stop.Token));
        Assert.Empty(saved);
    }

    [Fact]
    public void Train_RefusesACheckpointPositionTheRunDoesNotHave()
    {
        var trainer = new GruTrainer(SineProblem(), MidEpochArchitecture, MidEpochSettings(1));
        TrainingCheckpoint stopped = TrainWithStops(1, [(1, 2)], throughBytes: false).Stops[0];

        Assert.Throws<ArgumentException>(() => trainer.Train(resumeFrom: stopped with { BatchesDone = trainer.BatchesPerEpoch + 1 }));
        Assert.Throws<ArgumentException>(() => trainer.Train(resumeFrom: stopped with { CompletedEpochs = trainer.Settings.Epochs }));
    }

    [Fact]
    public void Train_StopsEarly_AndRestoresTheBestEpochsWeights()
    {
        // A learning rate far too high makes validation loss worsen after the first epochs.
        var trainer = new GruTrainer(SineProblem(), new GruArchitecture(HiddenSize: 8),
            new TrainingSettings { Epochs = 40, BatchSize = 16, LearningRate = 0.3f, ClipNorm = 0, Seed = 2, Patience = 2 });
        TrainingResult result = trainer.Train();

        Assert.True(result.StoppedEarly);
        Assert.True(result.History.Count < 40);
        double bestLoss = result.History.Min(h => h.ValidationLoss!.Value);
        Assert.Equal(result.History.First(h => h.ValidationLoss == bestLoss).Epoch, result.BestEpoch);
        Assert.Equal(bestLoss, result.Validation!.Loss, 1e-9);
    }
}
