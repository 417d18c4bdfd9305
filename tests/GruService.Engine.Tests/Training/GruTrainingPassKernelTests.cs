using GruService.Engine.Kernels;
using GruService.Engine.Training;

namespace GruService.Engine.Tests.Training;

/// <summary>
/// The float pass runs its products on Gemm's kernels (packed weights, tails of panels and tiles, whole-batch weight
/// gradients); the double pass runs the same algorithm on plain loops and is what the finite-difference checks test.
/// These tests tie the two together on shapes that exercise every tail.
/// </summary>
public class GruTrainingPassKernelTests
{
    public static TheoryData<int, int, int, int, bool, bool, GruTask> Shapes() => new()
    {
        // seed, input, hidden, layers, bidirectional, linear before reset, task
        { 1, 28, 17, 1, false, true, GruTask.Classify },
        { 2, 3, 5, 2, true, true, GruTask.Forecast },
        { 3, 1, 23, 1, false, false, GruTask.Forecast },
        { 4, 19, 37, 2, false, false, GruTask.Classify },
        { 5, 7, 16, 1, true, false, GruTask.Classify },
        { 6, 33, 48, 1, false, true, GruTask.Forecast },
    };

    [Theory]
    [MemberData(nameof(Shapes))]
    public void FastPathGradients_MatchDoublePath_OnRaggedBatches(int seed, int input, int hidden, int layers, bool bidirectional, bool linearBeforeReset, GruTask task)
    {
        GruConfig config = TrainingTestData.Config(task, linearBeforeReset, layers, bidirectional, inputSize: input, hiddenSize: hidden, classes: 4);
        int[] lengths = RaggedLengths(seed);
        var doubles = Run<double>(config, lengths, seed, new GruTrainingPass<double>(config));
        var floats = Run<float>(config, lengths, seed, new GruTrainingPass<float>(config));

        Assert.Equal(doubles.Loss, floats.Loss, 1e-5 * Math.Max(1, Math.Abs(doubles.Loss)));
        AssertClose(doubles.Outputs, floats.Outputs, 1e-5, "output");
        AssertClose(doubles.Gradient, floats.Gradient, 1e-5, "gradient");
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void FastPathGradients_MatchLoopProducts_OnRaggedBatches(int seed, int input, int hidden, int layers, bool bidirectional, bool linearBeforeReset, GruTask task)
    {
        GruConfig config = TrainingTestData.Config(task, linearBeforeReset, layers, bidirectional, inputSize: input, hiddenSize: hidden, classes: 4);
        int[] lengths = RaggedLengths(seed);
        var loops = Run<float>(config, lengths, seed, new GruTrainingPass<float>(config, loopProducts: true));
        var kernels = Run<float>(config, lengths, seed, new GruTrainingPass<float>(config));

        // Same algorithm in float, products summed in different orders: rounding apart only.
        Assert.Equal(loops.Loss, kernels.Loss, 2e-6 * Math.Max(1, Math.Abs(loops.Loss)));
        AssertClose(loops.Outputs, kernels.Outputs, 2e-6, "output");
        AssertClose(loops.Gradient, kernels.Gradient, 5e-6, "gradient");
    }

    [Fact]
    public void SplittingProductsOverTwoCores_GivesTheSameBits()
    {
        GruConfig config = TrainingTestData.Config(GruTask.Classify, linearBeforeReset: true, inputSize: 28, hiddenSize: 40, classes: 10);
        int[] lengths = [.. Enumerable.Range(0, 48).Select(i => 20 + i % 9)];
        var oneCore = Run<float>(config, lengths, 7, new GruTrainingPass<float>(config));
        var twoCores = Run<float>(config, lengths, 7, new GruTrainingPass<float>(config) { ProductThreading = GemmThreading.Split });

        Assert.Equal(oneCore.Loss, twoCores.Loss);
        Assert.Equal(oneCore.Gradient, twoCores.Gradient);
    }

    /// <summary>Unequal lengths with repeats, so that sequences end at different steps and several end together.</summary>
    private static int[] RaggedLengths(int seed)
    {
        var random = new Random(100 + seed);
        return [.. Enumerable.Range(0, 9).Select(_ => 1 + random.Next(11)), 11, 11];
    }

    private static (double Loss, double[] Outputs, double[] Gradient) Run<T>(GruConfig config, int[] lengths, int seed, GruTrainingPass<T> pass)
        where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        var reference = TrainingTestData.Parameters<double>(config, seed);
        var parameters = new GruParameters<T>(config);
        for (int i = 0; i < parameters.Values.Length; i++) parameters.Values[i] = T.CreateTruncating((float)reference.Values[i]);
        T[] inputs = [.. TrainingTestData.Inputs(config, lengths, seed + 1).Select(v => T.CreateTruncating((float)v))];
        TrainingTargets<T> targets = config.Task == GruTask.Forecast
            ? TrainingTargets<T>.Forecast(TrainingTestData.RandomTargets(config, lengths.Length, seed + 2).Select(v => T.CreateTruncating((float)v)).ToArray())
            : TrainingTargets<T>.Classify(lengths.Select((_, i) => (i * 7 + seed) % config.HeadOutputs).ToArray());

        T loss = pass.Forward(parameters, inputs, lengths, targets, default, null);
        var gradient = new T[parameters.Values.Length];
        pass.Backward(parameters, gradient);
        return (double.CreateTruncating(loss), [.. pass.Outputs.ToArray().Select(double.CreateTruncating)], [.. gradient.Select(double.CreateTruncating)]);
    }

    /// <summary>Every value within <paramref name="relative"/> of the largest magnitude (differences of rounding scale with it).</summary>
    private static void AssertClose(double[] expected, double[] actual, double relative, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double scale = Math.Max(expected.Max(Math.Abs), 1e-30);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= relative * scale, $"{what} {i}: expected {expected[i]:R}, got {actual[i]:R} (scale {scale:R})");
    }
}
