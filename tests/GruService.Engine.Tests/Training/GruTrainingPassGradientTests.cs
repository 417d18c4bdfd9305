using System.Text;
using GruService.Engine.Training;

namespace GruService.Engine.Tests.Training;

/// <summary>
/// Backward against central finite differences of Forward, in float64, for every value of every parameter tensor.
/// </summary>
public class GruTrainingPassGradientTests
{
    public enum Loss { MeanSquaredError, Huber, MeanAbsoluteError, CrossEntropy, WeightedCrossEntropy }

    // Central differences err by about ε²·L''' (truncation) plus 1e-16·|L|/ε (rounding of the loss); with ε = 1e-6 the
    // rounding alone reaches 1e-6 of the smallest gradients here, with ε = 1e-5 the worst error seen is about 1e-7.
    private const double Step = 1e-5;
    private const double Tolerance = 1e-6;

    // Below this magnitude a partial derivative is compared absolutely: |analytic − numeric| ≤ Tolerance × Floor.
    private const double Floor = 1e-3;

    // Ragged, not sorted by length, so packing and the reverse direction's per-sequence start are exercised.
    private static readonly int[] Lengths = [4, 2, 5];

    public static TheoryData<bool, int, bool, Loss> Architectures()
    {
        var data = new TheoryData<bool, int, bool, Loss>();
        foreach (bool linearBeforeReset in new[] { true, false })
            foreach (int layers in new[] { 1, 2 })
                foreach (bool bidirectional in new[] { false, true })
                    foreach (Loss loss in Enum.GetValues<Loss>())
                        data.Add(linearBeforeReset, layers, bidirectional, loss);
        return data;
    }

    [Theory]
    [MemberData(nameof(Architectures))]
    public void Backward_MatchesFiniteDifferences(bool linearBeforeReset, int layers, bool bidirectional, Loss loss)
    {
        int seed = (linearBeforeReset ? 1 : 2) * 1000 + layers * 100 + (bidirectional ? 10 : 0) + (int)loss;
        GruTask task = loss is Loss.CrossEntropy or Loss.WeightedCrossEntropy ? GruTask.Classify : GruTask.Forecast;
        GruConfig config = TrainingTestData.Config(task, linearBeforeReset, layers, bidirectional);
        var parameters = TrainingTestData.Parameters<double>(config, seed);
        double[] inputs = TrainingTestData.Inputs(config, Lengths, seed + 1);
        TrainingTargets<double> targets = Targets(config, parameters, inputs, loss, seed + 2);

        AssertGradientMatches(parameters, inputs, targets, new TrainingOptions(), dropoutSeed: null);
    }

    [Theory]
    [InlineData(true, Loss.MeanSquaredError)]
    [InlineData(false, Loss.WeightedCrossEntropy)]
    public void Backward_MatchesFiniteDifferences_WithDropoutMasksOfTheSameSeed(bool linearBeforeReset, Loss loss)
    {
        GruTask task = loss is Loss.CrossEntropy or Loss.WeightedCrossEntropy ? GruTask.Classify : GruTask.Forecast;
        GruConfig config = TrainingTestData.Config(task, linearBeforeReset, layers: 2, bidirectional: true);
        var parameters = TrainingTestData.Parameters<double>(config, 77);
        double[] inputs = TrainingTestData.Inputs(config, Lengths, 78);
        TrainingTargets<double> targets = Targets(config, parameters, inputs, loss, 79);

        AssertGradientMatches(parameters, inputs, targets, new TrainingOptions(Dropout: 0.3), dropoutSeed: 80);
    }

    [Fact]
    public void Backward_MatchesFiniteDifferences_ForThreeLayersWithLengthOneAndEqualLengths()
    {
        GruConfig config = TrainingTestData.Config(GruTask.Forecast, linearBeforeReset: false, layers: 3, bidirectional: true,
            inputSize: 2, hiddenSize: 3, horizon: 3, outputSize: 1);
        var parameters = TrainingTestData.Parameters<double>(config, 91);
        int[] lengths = [3, 1, 3, 6];
        double[] inputs = TrainingTestData.Inputs(config, lengths, 92);
        var targets = TrainingTargets<double>.Forecast(TrainingTestData.RandomTargets(config, lengths.Length, 93));

        AssertGradientMatches(parameters, inputs, targets, new TrainingOptions(), dropoutSeed: null, lengths);
    }

    private static TrainingTargets<double> Targets(GruConfig config, GruParameters<double> parameters, double[] inputs, Loss loss, int seed)
    {
        if (config.Task == GruTask.Classify)
        {
            int[] labels = TrainingTestData.Labels(config, Lengths.Length, seed);
            return loss == Loss.WeightedCrossEntropy
                ? TrainingTargets<double>.Classify(labels, new[] { 0.5, 2.0, 1.25 })
                : TrainingTargets<double>.Classify(labels);
        }
        if (loss == Loss.MeanSquaredError)
            return TrainingTargets<double>.Forecast(TrainingTestData.RandomTargets(config, Lengths.Length, seed));

        // Errors well away from the kinks, so a step of 1e-6 stays on one side: |e| ≠ 0 for MAE, and for Huber
        // (δ = 0.5) some errors inside ±δ and some outside.
        var pass = new GruTrainingPass<double>(config);
        pass.Forward(parameters, inputs, Lengths, TrainingTargets<double>.Forecast(new double[Lengths.Length * config.HeadOutputs]), default, null);
        return loss == Loss.Huber
            ? TrainingTargets<double>.Forecast(TrainingTestData.TargetsAtDistances(pass.Outputs, [0.1, 0.8, 0.3, 1.7], seed), ForecastLoss.Huber, 0.5)
            : TrainingTargets<double>.Forecast(TrainingTestData.TargetsAtDistances(pass.Outputs, [0.2, 0.7, 1.1], seed), ForecastLoss.MeanAbsoluteError);
    }

    /// <summary>
    /// Compares every analytic partial derivative with (L(θ + ε) − L(θ − ε)) / 2ε, reporting the worst error of each gate
    /// block (r, z, n rows of every GRU tensor; the head tensors whole), and checks that each block's gradient is
    /// not vanishingly small, so a block the backward pass forgot cannot pass as zero.
    /// </summary>
    private static void AssertGradientMatches(GruParameters<double> parameters, double[] inputs, TrainingTargets<double> targets,
        TrainingOptions options, int? dropoutSeed, int[]? lengths = null)
    {
        lengths ??= Lengths;
        var pass = new GruTrainingPass<double>(parameters.Config);
        double Loss() => pass.Forward(parameters, inputs, lengths, targets, options, dropoutSeed is int seed ? new Random(seed) : null);

        Loss();
        var analytic = new double[parameters.Values.Length];
        pass.Backward(parameters, analytic);

        double[] values = parameters.Values;
        var report = new StringBuilder();
        bool failed = false;
        foreach (ParameterTensor tensor in parameters.Tensors)
        {
            bool gateRows = tensor.Name.StartsWith("gru.", StringComparison.Ordinal);
            int blocks = gateRows ? 3 : 1, blockLength = tensor.Length / blocks;
            for (int block = 0; block < blocks; block++)
            {
                double worst = 0, largest = 0;
                for (int i = 0; i < blockLength; i++)
                {
                    int index = tensor.Offset + block * blockLength + i;
                    double saved = values[index];
                    values[index] = saved + Step;
                    double plus = Loss();
                    values[index] = saved - Step;
                    double minus = Loss();
                    values[index] = saved;
                    double numeric = (plus - minus) / (2 * Step);
                    double error = Math.Abs(analytic[index] - numeric) / Math.Max(Math.Max(Math.Abs(analytic[index]), Math.Abs(numeric)), Floor);
                    worst = Math.Max(worst, error);
                    largest = Math.Max(largest, Math.Abs(numeric));
                }
                string name = gateRows ? $"{tensor.Name}[{"rzn"[block]}]" : tensor.Name;
                bool bad = worst > Tolerance || largest < 1e-4;
                failed |= bad;
                report.AppendLine($"{(bad ? "FAIL " : "     ")}{name}: worst relative error {worst:E2}, largest |gradient| {largest:E2}");
            }
        }
        Assert.False(failed, report.ToString());
    }
}
