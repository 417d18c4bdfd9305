using GruService.Engine.Kernels;
using static GruService.Engine.Tests.Kernels.GemmTestData;

namespace GruService.Engine.Tests.Kernels;

public class GemmEpilogueTests
{
    [Theory]
    [InlineData("Single", "Auto")]
    [InlineData("Auto", "Auto")]
    [InlineData("Split", "Rows")]
    [InlineData("Split", "Panels")]
    [InlineData("SplitWithoutStealing", "Rows")]
    [InlineData("SplitWithoutStealing", "Panels")]
    [InlineData("ThreadPool", "Rows")]
    public void EachRow_IsHandedOnceWhenFinal_AndItsInputRowMayThenBeOverwritten(string threading, string splitBy)
    {
        var settings = new GemmSettings(Threading: Enum.Parse<GemmThreading>(threading), SplitBy: Enum.Parse<GemmSplitBy>(splitBy));
        foreach (var (rows, k, n) in new[] { (1, 256, 768), (5, 64, 192), (12, 40, 100), (64, 256, 768), (300, 32, 200) })
        {
            float[] w = Matrix(n * k, seed: n), bias = Matrix(n, seed: k), a = Matrix(rows * k, seed: rows);
            var packed = new PackedWeights(w, n, k, bias);
            var expected = new float[rows * n];
            Gemm.MultiplyTransposedAddBias(a, rows, k, packed, expected, n, new GemmSettings(Threading: GemmThreading.Single));

            var c = new float[rows * n];
            var epilogue = new CheckingEpilogue(a, k, c, n, expected);
            Gemm.MultiplyTransposedAddBias(a, rows, k, packed, c, n, settings, epilogue);

            Assert.All(epilogue.TimesSeen, times => Assert.Equal(1, times));
            Assert.Null(epilogue.Problem);
            AssertBitIdentical(expected, c, $"{threading} by {splitBy}, rows={rows}");
        }
    }

    [Fact]
    public void AnEpilogueThatThrowsOnTheHelper_ThrowsOnTheCaller_AndTheHelperGoesOn()
    {
        const int rows = 64, k = 64, n = 192;
        float[] w = Matrix(n * k, 1), a = Matrix(rows * k, 2);
        var packed = new PackedWeights(w, n, k, default);
        var c = new float[rows * n];
        var helperOnly = new GemmSettings(Threading: GemmThreading.SplitWithoutStealing, SplitBy: GemmSplitBy.Rows);
        // The caller takes the first half of the rows; the second half is the helper's.
        var throwing = new ThrowingEpilogue(fromRow: rows / 2 + 1);
        Assert.Throws<InvalidOperationException>(() => Gemm.MultiplyTransposedAddBias(a, rows, k, packed, c, n, helperOnly, throwing));

        var expected = new float[rows * n];
        Gemm.MultiplyTransposedAddBias(a, rows, k, packed, expected, n, new GemmSettings(Threading: GemmThreading.Single));
        var again = new float[rows * n];
        Gemm.MultiplyTransposedAddBias(a, rows, k, packed, again, n, helperOnly);
        AssertBitIdentical(expected, again, "the product after the failure");
    }

    [Theory]
    [InlineData("Single")]
    [InlineData("Split")]
    public void AProductWithAnEpilogue_AllocatesNothing(string threading)
    {
        const int rows = 64, k = 256, n = 768;
        var packed = new PackedWeights(Matrix(n * k, 1), n, k, Matrix(n, 2));
        float[] a = Matrix(rows * k, 3), c = new float[rows * n];
        var settings = new GemmSettings(Threading: Enum.Parse<GemmThreading>(threading));
        var epilogue = new CountingEpilogue();
        Assert.Equal(0, AllocationMeter.LeastBytesPerCall(() =>
        {
            Gemm.MultiplyTransposedAddBias(a, rows, k, packed, c, n, settings, epilogue);
            Gemm.MultiplyTransposedAddBias(a, 1, k, packed, c, n, settings, epilogue);
        }, warmUps: 1, trials: 4));
        Assert.Equal(5 * (rows + 1), epilogue.Rows);
    }

    private sealed class CountingEpilogue : IGemmRowEpilogue
    {
        private int _rows;
        public int Rows => _rows;
        public void RowsDone(int first, int count) => Interlocked.Add(ref _rows, count);
    }

    /// <summary>Checks each block against the final C, counts it, then poisons the A rows it covers.</summary>
    private sealed class CheckingEpilogue(float[] a, int k, float[] c, int n, float[] expected) : IGemmRowEpilogue
    {
        public int[] TimesSeen { get; } = new int[c.Length / n];
        public string? Problem { get; private set; }

        public void RowsDone(int first, int count)
        {
            for (int i = first; i < first + count; i++)
            {
                Interlocked.Increment(ref TimesSeen[i]);
                if (!c.AsSpan(i * n, n).SequenceEqual(expected.AsSpan(i * n, n)))
                    Problem = $"row {i} was handed over before it was final";
            }
            // Like a GRU step writing h' over h: the product must not read these rows again.
            a.AsSpan(first * k, count * k).Fill(float.NaN);
        }
    }

    private sealed class ThrowingEpilogue(int fromRow) : IGemmRowEpilogue
    {
        public void RowsDone(int first, int count)
        {
            if (first + count > fromRow) throw new InvalidOperationException("epilogue failed");
        }
    }
}
