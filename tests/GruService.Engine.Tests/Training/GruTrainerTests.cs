using GruService.Engine.Training;
using GruService.Engine.Training.Data;

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
