using GruService.Engine.Kernels;

namespace GruService.Engine.Tests.Kernels;

/// <summary>The fused gate math against the same formulas in double precision, on every tail length.</summary>
public class GruCellTests
{
    // A few units in the last place of values up to 1 in size: the activations' polynomials, then the blend.
    private const double Tolerance = 1e-6;

    // Every tail length, and sizes around the PyTorch form's 64-lane chunks (one chunk, a chunk and a tail, several).
    public static TheoryData<int> Sizes() => [.. Enumerable.Range(1, 40), 63, 64, 65, 72, 127, 128, 129, 136, 200, 256];

    [Theory]
    [MemberData(nameof(Sizes))]
    public void StepLinearBeforeReset_MatchesDoublePrecision_OnEveryLength(int size)
    {
        var random = new Random(size);
        float[] inputGates = Values(random, 3 * size, 4), hiddenGates = Values(random, 3 * size, 4), h = Values(random, size, 1);
        float[] expected = new float[size];
        for (int i = 0; i < size; i++)
        {
            double r = Sigmoid((double)hiddenGates[i] + inputGates[i]);
            double z = Sigmoid((double)hiddenGates[size + i] + inputGates[size + i]);
            double n = Math.Tanh(r * hiddenGates[2 * size + i] + inputGates[2 * size + i]);
            expected[i] = (float)((1 - z) * n + z * h[i]);
        }

        GruCell.StepLinearBeforeReset(inputGates, hiddenGates, h);

        AssertClose(expected, h);
    }

    [Theory]
    [MemberData(nameof(Sizes))]
    public void ResetBeforeMatmul_MatchesDoublePrecision_OnEveryLength(int size)
    {
        var random = new Random(100 + size);
        float[] inputGates = Values(random, 3 * size, 4), hiddenRz = Values(random, 2 * size, 4), hiddenN = Values(random, size, 4);
        float[] h = Values(random, size, 1), resetHidden = new float[size];
        float[] expectedRz = new float[2 * size], expectedReset = new float[size], expectedH = new float[size];
        for (int i = 0; i < 2 * size; i++) expectedRz[i] = (float)Sigmoid((double)hiddenRz[i] + inputGates[i]);
        for (int i = 0; i < size; i++)
        {
            expectedReset[i] = (float)(expectedRz[i] * (double)h[i]);
            double n = Math.Tanh((double)hiddenN[i] + inputGates[2 * size + i]);
            double z = expectedRz[size + i];
            expectedH[i] = (float)((1 - z) * n + z * h[i]);
        }

        GruCell.ResetGate(inputGates, hiddenRz, h, resetHidden);
        AssertClose(expectedRz, hiddenRz);
        AssertClose(expectedReset, resetHidden);
        GruCell.UpdateAfterReset(inputGates, hiddenRz.AsSpan(size), hiddenN, h);
        AssertClose(expectedH, h);
    }

    [Fact]
    public void Activations_MatchDoublePrecision_FromSaturationToZero()
    {
        // Every 8-lane block of a sweep over [−100, 100], dense near 0 where tanh switches from its polynomial.
        float[] x = [.. Enumerable.Range(-4000, 8000).Select(i => i / 40f), .. Enumerable.Range(-800, 1600).Select(i => i / 1000f),
            0.625f, -0.625f, 0.62499994f, 1e-30f, -1e-30f, 87.3f, -87.3f, 88f, -88f, 1e30f, -1e30f, float.PositiveInfinity, float.NegativeInfinity];
        for (int i = 0; i + 8 <= x.Length; i += 8)
        {
            var block = System.Runtime.Intrinsics.Vector256.Create(x.AsSpan(i, 8));
            var sigmoid = GateMath.Sigmoid(block);
            var tanh = GateMath.Tanh(block);
            for (int lane = 0; lane < 8; lane++)
            {
                double value = x[i + lane];
                Assert.True(Math.Abs(sigmoid[lane] - Sigmoid(value)) <= Tolerance * Math.Max(1e-3, Sigmoid(value)) + 1e-38,
                    $"sigmoid({value:R}) = {sigmoid[lane]:R}, expected {Sigmoid(value):R}");
                Assert.True(Math.Abs(tanh[lane] - Math.Tanh(value)) <= Tolerance * Math.Max(1e-3, Math.Abs(Math.Tanh(value))),
                    $"tanh({value:R}) = {tanh[lane]:R}, expected {Math.Tanh(value):R}");
            }
        }
    }

    [Fact]
    public void NaN_ReachesTheNewState()
    {
        float[] inputGates = Values(new Random(3), 3 * 16, 1), hiddenGates = new float[3 * 16], h = new float[16];
        inputGates[5] = float.NaN;           // r of lane 5, in a full block
        inputGates[2 * 16 + 14] = float.NaN; // n of lane 14, in the second block

        GruCell.StepLinearBeforeReset(inputGates, hiddenGates, h);

        for (int i = 0; i < 16; i++)
            Assert.Equal(i is 5 or 14, float.IsNaN(h[i]));
        Assert.True(float.IsNaN(GateMath.Exp(System.Runtime.Intrinsics.Vector256.Create(float.NaN))[0]));
    }

    private static double Sigmoid(double x) => 1 / (1 + Math.Exp(-x));

    private static float[] Values(Random random, int count, float scale) =>
        [.. Enumerable.Range(0, count).Select(_ => (random.NextSingle() * 2 - 1) * scale)];

    private static void AssertClose(float[] expected, ReadOnlySpan<float> actual)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= Tolerance * Math.Max(1, Math.Abs(expected[i])),
                $"[{i}] of {expected.Length}: expected {expected[i]:R}, got {actual[i]:R}");
    }
}
