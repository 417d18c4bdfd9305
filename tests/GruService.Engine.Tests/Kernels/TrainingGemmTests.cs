using GruService.Engine.Kernels;
using GruService.Engine.Training;
using static GruService.Engine.Tests.Kernels.GemmTestData;

namespace GruService.Engine.Tests.Kernels;

public class TrainingGemmTests
{
    private const int Panel = PackedWeights.PanelWidth;

    [Theory]
    [InlineData("Scalar")]
    [InlineData("Vector256")]
    [InlineData("Vector512")]
    public void Multiply_IsAByB_OnEveryTailLength(string pathName)
    {
        var settings = new GemmSettings(Path(pathName), KBlock: 5, Threading: GemmThreading.Single);
        for (int n = 1; n <= 2 * Panel + 1; n++)
            for (int k = 1; k <= 13; k++)
                for (int m = 1; m <= 2 * TileRows(settings.Path) + 1; m++)
                {
                    float[] a = Matrix(m * k, seed: m), b = Matrix(k * n, seed: n + k);
                    var c = Matrix(m * n, seed: 99); // overwritten, not added to
                    TrainingGemm.Multiply(a, m, k, b, n, c, settings);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < n; j++)
                        {
                            double exact = 0, magnitude = 0;
                            for (int p = 0; p < k; p++)
                            {
                                double term = (double)a[i * k + p] * b[p * n + j];
                                exact += term;
                                magnitude += Math.Abs(term);
                            }
                            AssertClose(exact, magnitude, k, c[i * n + j], $"m={m} k={k} n={n} C[{i}, {j}]");
                        }
                }
    }

    [Theory]
    [InlineData("Scalar")]
    [InlineData("Vector256")]
    [InlineData("Vector512")]
    public void AddTransposedProduct_AddsATransposedByB_OnEveryTailLength(string pathName)
    {
        var settings = new GemmSettings(Path(pathName), KBlock: 5, Threading: GemmThreading.Single);
        for (int n = 1; n <= 2 * Panel + 1; n++)
            for (int k = 1; k <= 2 * TileRows(settings.Path) + 1; k++)
                for (int m = 1; m <= 13; m++)
                {
                    float[] a = Matrix(m * k, seed: m + k), b = Matrix(m * n, seed: n), c = Matrix(k * n, seed: k);
                    float[] start = [.. c];
                    TrainingGemm.AddTransposedProduct(a, m, k, b, n, c, settings);
                    for (int p = 0; p < k; p++)
                        for (int j = 0; j < n; j++)
                        {
                            double exact = start[p * n + j], magnitude = Math.Abs(exact);
                            for (int i = 0; i < m; i++)
                            {
                                double term = (double)a[i * k + p] * b[i * n + j];
                                exact += term;
                                magnitude += Math.Abs(term);
                            }
                            AssertClose(exact, magnitude, m, c[p * n + j], $"m={m} k={k} n={n} C[{p}, {j}]");
                        }
                }
    }

    [Theory]
    [InlineData("Vector256")]
    [InlineData("Scalar")]
    public void AddPackedTransposedProduct_OfRowsPackedSliceBySlice_IsBitIdenticalToAddTransposedProduct(string pathName)
    {
        // Both are one FMA chain per element over the rows in order, from c: the packing must not change a bit.
        var settings = new GemmSettings(Path(pathName), Threading: GemmThreading.Single);
        var workspace = new TrainingGemmWorkspace();
        foreach (int m in new[] { 1, 17, 40, 67 })
            foreach (int k in new[] { 1, 16, 21, 48, 50 })
                foreach (int n in new[] { 1, 8, 16, 29, 33 })
                {
                    float[] a = Matrix(m * k, seed: m + k), b = Matrix(m * n, seed: n), c = Matrix(k * n, seed: k);
                    float[] expected = [.. c];
                    TrainingGemm.AddTransposedProduct(a, m, k, b, n, expected, settings);

                    var panels = new float[PackedWeights.PanelCount(k) * Panel * m];
                    Array.Fill(panels, float.NaN); // padding the packer leaves alone must be cleared, as a pass does
                    TrainingGemm.ClearTailPanel(panels, k, m);
                    for (int first = 0, slice = 1; first < m; first += slice, slice += 3) // uneven slices, like ragged steps
                    {
                        int rows = Math.Min(slice, m - first);
                        TrainingGemm.PackRows(a.AsSpan(first * k, rows * k), rows, k, panels, m, first);
                    }
                    TrainingGemm.AddPackedTransposedProduct(panels, m, k, b, n, c, settings, workspace);
                    Assert.True(expected.AsSpan().SequenceEqual(c), $"m={m} k={k} n={n}: the packed product differs");
                }
    }

    [Fact]
    public void TrainingShapes_MatchTrainingMath()
    {
        // The gradients of a GRU layer (I = 28, H = 128, 448 rows), split over two cores as in training.
        const int rows = 448, input = 28, gates = 384;
        float[] dGates = Matrix(rows * gates, 1), x = Matrix(rows * input, 2), w = Matrix(gates * input, 3);
        float[] dW = Matrix(gates * input, 4), expectedDW = [.. dW];
        TrainingGemm.AddTransposedProduct(dGates, rows, gates, x, input, dW);
        TrainingMath.AddTransposedProduct<float>(dGates, rows, gates, x, input, expectedDW);
        AssertAllClose(expectedDW, dW, 2e-4f);

        var dX = new float[rows * input];
        var expectedDX = new float[rows * input];
        TrainingGemm.Multiply(dGates, rows, gates, w, input, dX);
        TrainingMath.Multiply<float>(dGates, rows, gates, w, input, expectedDX);
        AssertAllClose(expectedDX, dX, 2e-4f);
    }

    [Fact]
    public void MultiplyTransposed_IsBitIdenticalToTheInferenceProduct()
    {
        // A training forward pass then reproduces inference exactly, as it does today.
        foreach (var (m, k, n) in new[] { (1, 7, 3), (50, 8, 192), (13, 300, 40) })
        {
            float[] a = Matrix(m * k, 1), w = Matrix(n * k, 2), bias = Matrix(n, 3);
            var inference = new float[m * n];
            Gemm.MultiplyTransposedAddBias(a, m, new PackedWeights(w, n, k, bias), inference);
            var training = new float[m * n];
            TrainingGemm.MultiplyTransposed(a, m, k, w, n, bias, training);
            AssertBitIdentical(inference, training, $"m={m} k={k} n={n}");

            var unbiased = new float[m * n];
            TrainingGemm.MultiplyTransposed(a, m, k, w, n, default, unbiased);
            AssertMatchesReference(a, m, k, w, n, k, bias: null, unbiased, n, $"no bias, m={m} k={k} n={n}");
        }
    }

    [Fact]
    public void ShortSpans_AreRejected()
    {
        Assert.Throws<ArgumentException>(() => TrainingGemm.Multiply(new float[5], 2, 3, new float[6], 2, new float[4]));
        Assert.Throws<ArgumentException>(() => TrainingGemm.AddTransposedProduct(new float[6], 2, 3, new float[3], 2, new float[6]));
        Assert.Throws<ArgumentException>(() => TrainingGemm.MultiplyTransposed(new float[6], 2, 3, new float[6], 2, new float[1], new float[4]));
    }

    private static void AssertClose(double exact, double magnitude, int terms, float value, string where)
    {
        double tolerance = (terms + 1) * magnitude * MathF.Pow(2, -24) + 1e-30;
        if (!(Math.Abs(value - exact) <= tolerance))
            Assert.Fail($"{where} = {value:R}, reference {exact:R} (tolerance {tolerance:R})");
    }

    private static void AssertAllClose(float[] expected, float[] actual, float tolerance)
    {
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(expected[i] - actual[i]) <= tolerance * (1 + Math.Abs(expected[i])), $"element {i}: {actual[i]} vs {expected[i]}");
    }
}
