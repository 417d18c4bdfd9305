using GruService.Engine.Kernels;
using static GruService.Engine.Tests.Kernels.GemmTestData;

namespace GruService.Engine.Tests.Kernels;

public class GemmTests
{
    private const int Panel = PackedWeights.PanelWidth;

    /// <summary>A realistic K block to force (by default K is not blocked).</summary>
    private const int KBlock = 256;

    [Theory]
    [InlineData("Scalar")]
    [InlineData("Vector256")]
    [InlineData("Vector512")]
    public void EveryTailLength_MatchesTheReferenceAndTheScalarChainBitForBit(string pathName)
    {
        GemmPath path = Path(pathName);
        // A small forced K block makes K = 1 .. 2 blocks + 3 cover every remainder of the K loop as well; panel
        // groups of one tile's panels run the group loop with every column tail.
        const int kBlock = 5;
        int maxRows = Math.Max(2 * TileRows(path) + 1, 13);
        var settings = new GemmSettings(path, KBlock: kBlock, PanelBlockBytes: 1, Threading: GemmThreading.Single);
        for (int n = 1; n <= 2 * Panel + 1; n++)
            for (int k = 1; k <= 2 * kBlock + 3; k++)
                CheckAllRowCounts(settings, n, k, maxRows, seed: 1000 * n + k);
    }

    [Theory]
    [InlineData("Scalar")]
    [InlineData("Vector256")]
    [InlineData("Vector512")]
    public void EveryReductionLength_UpToPastARealisticKBlock_MatchesTheReference(string pathName)
    {
        GemmPath path = Path(pathName);
        int maxRows = 2 * TileRows(path) + 1;
        var settings = new GemmSettings(path, KBlock: KBlock, Threading: GemmThreading.Single);
        // Every K; the column tail rotates with K, so that all 16 tail widths meet many reduction lengths.
        for (int k = 1; k <= KBlock + 3; k++)
            foreach (int n in new[] { 1 + k % Panel, Panel + 1 + (k * 7) % Panel })
                CheckAllRowCounts(settings, n, k, maxRows, seed: 7 * n + k);
    }

    [Theory]
    [InlineData("Scalar")]
    [InlineData("Vector256")]
    [InlineData("Vector512")]
    public void WithoutABias_ChainsStartFromZero(string pathName)
    {
        var settings = new GemmSettings(Path(pathName), KBlock: 4, Threading: GemmThreading.Single);
        for (int n = 1; n <= 2 * Panel + 1; n += 4)
            for (int k = 1; k <= 9; k++)
            {
                float[] w = Matrix(n * k, seed: n + 31 * k);
                var packed = new PackedWeights(w, n, k, default);
                for (int rows = 1; rows <= 17; rows++)
                {
                    float[] a = Matrix(rows * k, seed: rows);
                    var c = new float[rows * n];
                    Gemm.MultiplyTransposedAddBias(a, rows, k, packed, c, n, settings);
                    AssertMatchesReference(a, rows, k, w, n, k, bias: null, c, n, $"n={n} k={k} rows={rows}");
                    for (int i = 0; i < rows; i++)
                        for (int j = 0; j < n; j++)
                            Assert.Equal(Chain(a, i, k, w, j, k, bias: null), c[i * n + j]);
                }
            }
    }

    [Theory]
    [InlineData("Scalar")]
    [InlineData("Vector256")]
    [InlineData("Vector512")]
    public void EachRowOfABatch_IsBitIdenticalToThatRowComputedAlone(string pathName)
    {
        GemmPath path = Path(pathName);
        foreach (int k in new[] { 1, 7, 64, KBlock + 44 })
            foreach (int n in new[] { 5, 48, 200 })
            {
                float[] w = Matrix(n * k, seed: k * n), bias = Matrix(n, seed: n);
                var packed = new PackedWeights(w, n, k, bias);
                foreach (int rows in new[] { 2, 3, 4, 5, 6, 7, 8, 9, 11, 13, 17, 64, 100 })
                {
                    float[] a = Matrix(rows * k, seed: rows + k);
                    var batched = new float[rows * n];
                    Gemm.MultiplyTransposedAddBias(a, rows, k, packed, batched, n, new GemmSettings(path));
                    for (int i = 0; i < rows; i++)
                    {
                        var alone = new float[n];
                        Gemm.MultiplyTransposedAddBias(a.AsSpan(i * k, k), 1, k, packed, alone, n, new GemmSettings(path));
                        AssertBitIdentical(alone, batched.AsSpan(i * n, n), $"row {i} of {rows}, k={k}, n={n}");
                    }
                }
            }
    }

    [Fact]
    public void StayOnThisThread_KeepsAutomaticProductsOffTheSecondCore_UntilDisposed()
    {
        const long Large = 1L << 30;
        Assert.False(Gemm.StaysOnThisThread);
        using (Gemm.StayOnThisThread())
        {
            Assert.True(Gemm.StaysOnThisThread);
            Assert.False(Gemm.SplitsAutomatically(Large));
            using (Gemm.StayOnThisThread(stay: false))
                Assert.False(Gemm.SplitsAutomatically(Large)); // an inner scope cannot lift an outer one
            Assert.True(Gemm.StaysOnThisThread);

            bool otherThread = true;
            var thread = new Thread(() => otherThread = Gemm.StaysOnThisThread);
            thread.Start();
            thread.Join();
            Assert.False(otherThread); // the setting is the calling thread's only
        }
        Assert.False(Gemm.StaysOnThisThread);
        using (Gemm.StayOnThisThread(stay: false))
            Assert.False(Gemm.StaysOnThisThread);
    }

    [Theory]
    [InlineData("Vector256", "Rows")]
    [InlineData("Vector256", "Panels")]
    [InlineData("Vector512", "Rows")]
    [InlineData("Vector512", "Panels")]
    [InlineData("Scalar", "Panels")]
    public void SplittingOverTwoCores_IsBitIdenticalToOneCore(string pathName, string splitBy)
    {
        GemmPath path = Path(pathName);
        var by = Enum.Parse<GemmSplitBy>(splitBy);
        long helperChunksBefore = SecondCore.HelperChunks;
        foreach (var (rows, k, n) in new[] { (1, 256, 768), (1, 64, 33), (7, 40, 100), (64, 256, 768), (300, 32, 200), (61, 17, 47) })
        {
            float[] w = Matrix(n * k, seed: n), bias = Matrix(n, seed: k), a = Matrix(rows * k, seed: rows);
            var packed = new PackedWeights(w, n, k, bias);
            var single = new float[rows * n];
            Gemm.MultiplyTransposedAddBias(a, rows, k, packed, single, n, new GemmSettings(path, Threading: GemmThreading.Single));
            foreach (GemmThreading threading in new[] { GemmThreading.Split, GemmThreading.SplitWithoutStealing, GemmThreading.ThreadPool, GemmThreading.Auto })
            {
                var split = new float[rows * n];
                Gemm.MultiplyTransposedAddBias(a, rows, k, packed, split, n, new GemmSettings(path, Threading: threading, SplitBy: by));
                AssertBitIdentical(single, split, $"{threading} by {by}, rows={rows} k={k} n={n}");
            }
            // Chunks that start past row or panel 0, with every block forced small or huge.
            foreach (int block in new[] { 1, int.MaxValue })
            {
                var split = new float[rows * n];
                Gemm.MultiplyTransposedAddBias(a, rows, k, packed, split, n,
                    new GemmSettings(path, KBlock: block, RowBlock: block, PanelBlockBytes: block, Threading: GemmThreading.SplitWithoutStealing, SplitBy: by));
                AssertBitIdentical(single, split, $"blocks of {block} by {by}, rows={rows} k={k} n={n}");
            }
        }
        // The helper really computed part of the products (it must, when the caller never takes its chunks).
        Assert.True(SecondCore.HelperChunks > helperChunksBefore);
    }

    [Theory]
    [InlineData("Scalar")]
    [InlineData("Vector256")]
    [InlineData("Vector512")]
    public void KRowAndPanelBlocking_IsBitIdenticalToOneBlock(string pathName)
    {
        GemmPath path = Path(pathName);
        const int k = 300, n = 72;
        float[] w = Matrix(n * k, seed: 5), bias = Matrix(n, seed: 6);
        var packed = new PackedWeights(w, n, k, bias);
        for (int rows = 1; rows <= 2 * TileRows(path) + 1; rows++)
        {
            float[] a = Matrix(rows * k, seed: rows);
            var whole = new float[rows * n];
            Gemm.MultiplyTransposedAddBias(a, rows, k, packed, whole, n,
                new GemmSettings(path, KBlock: int.MaxValue, RowBlock: int.MaxValue, PanelBlockBytes: int.MaxValue, Threading: GemmThreading.Single));
            foreach (int kBlock in new[] { 1, 2, 3, 7, 64, KBlock })
                foreach (int rowBlock in new[] { 1, 8, Gemm.DefaultRowBlock })
                    foreach (int panelBlockBytes in new[] { 1, 3 * Panel * sizeof(float) * kBlock, int.MaxValue })
                    {
                        var blocked = new float[rows * n];
                        Gemm.MultiplyTransposedAddBias(a, rows, k, packed, blocked, n,
                            new GemmSettings(path, KBlock: kBlock, RowBlock: rowBlock, PanelBlockBytes: panelBlockBytes, Threading: GemmThreading.Single));
                        AssertBitIdentical(whole, blocked, $"K block {kBlock}, row block {rowBlock}, panel block {panelBlockBytes} B, rows={rows}");
                    }
        }
    }

    [Fact]
    public void AllPaths_AgreeBitForBit_OnTheGruShapes()
    {
        // The per-lane chain is the same in every instruction set, so a model answers identically on any machine.
        foreach (var (rows, k, n) in new[] { (50, 8, 192), (1, 64, 192), (64, 64, 192), (1, 256, 768), (100, 32, 768), (256, 128, 384) })
        {
            float[] w = Matrix(n * k, seed: 11), bias = Matrix(n, seed: 12), a = Matrix(rows * k, seed: 13);
            var packed = new PackedWeights(w, n, k, bias);
            var scalar = new float[rows * n];
            Gemm.MultiplyTransposedAddBias(a, rows, k, packed, scalar, n, new GemmSettings(GemmPath.Scalar));
            foreach (GemmPath path in new[] { GemmPath.Vector256, GemmPath.Vector512, GemmPath.Auto })
            {
                var c = new float[rows * n];
                Gemm.MultiplyTransposedAddBias(a, rows, k, packed, c, n, new GemmSettings(path));
                AssertBitIdentical(scalar, c, $"{path}, rows={rows} k={k} n={n}");
            }
        }
    }

    [Fact]
    public void StridedViews_ReadAndWriteOnlyTheirColumns()
    {
        // The recurrent product of a GRU writes the three gate blocks of a wider row; its input is a slice of one.
        const int rows = 13, k = 24, n = 40, aStride = 60, cStride = 100, aOffset = 9, cOffset = 30;
        float[] w = Matrix(n * k, seed: 1), bias = Matrix(n, seed: 2);
        float[] wide = Matrix(rows * aStride, seed: 3);
        var packed = new PackedWeights(w, n, k, bias);
        var c = new float[rows * cStride];
        Array.Fill(c, float.NaN);
        Gemm.MultiplyTransposedAddBias(wide.AsSpan(aOffset), rows, aStride, packed, c.AsSpan(cOffset), cStride);

        ReadOnlySpan<float> a = wide.AsSpan(aOffset);
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < cStride; j++)
            {
                int column = j - cOffset;
                float value = c[i * cStride + j];
                if (column >= 0 && column < n)
                    Assert.Equal(Chain(a, i, aStride, w, column, k, bias), value);
                else
                    Assert.True(float.IsNaN(value), $"C[{i}, {j}] outside the view was written");
            }
    }

    [Fact]
    public void ZeroRows_DoNothing()
    {
        var packed = new PackedWeights(Matrix(6, 1), 3, 2, default);
        Gemm.MultiplyTransposedAddBias(ReadOnlySpan<float>.Empty, 0, 2, packed, Span<float>.Empty, 3);
    }

    [Fact]
    public void ShortOperandsAndStrides_AreRejected()
    {
        var packed = new PackedWeights(Matrix(6, 1), 3, 2, default);
        var a = new float[4];
        var c = new float[6];
        Assert.Throws<ArgumentException>(() => Gemm.MultiplyTransposedAddBias(a, 3, 2, packed, c, 3));
        Assert.Throws<ArgumentException>(() => Gemm.MultiplyTransposedAddBias(a, 2, 2, packed, c.AsSpan(1), 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.MultiplyTransposedAddBias(a, 2, 1, packed, c, 3));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.MultiplyTransposedAddBias(a, 2, 2, packed, c, 2));
        Assert.Throws<ArgumentOutOfRangeException>(() => Gemm.MultiplyTransposedAddBias(a, -1, 2, packed, c, 3));
    }

    [Fact]
    public void OneCoreProducts_AllocateNothing()
    {
        const int rows = 64, k = 256, n = 768;
        var packed = new PackedWeights(Matrix(n * k, 1), n, k, Matrix(n, 2));
        float[] a = Matrix(rows * k, 3), c = new float[rows * n];
        var settings = new GemmSettings(Threading: GemmThreading.Single);
        Assert.Equal(0, AllocationMeter.LeastBytesPerCall(() =>
        {
            Gemm.MultiplyTransposedAddBias(a, rows, k, packed, c, n, settings);
            Gemm.MultiplyTransposedAddBias(a, 1, k, packed, c, n, settings);
        }));
    }

    [Fact]
    public void TwoCoreProducts_AllocateNothing()
    {
        const int rows = 64, k = 256, n = 768;
        var packed = new PackedWeights(Matrix(n * k, 1), n, k, Matrix(n, 2));
        float[] a = Matrix(rows * k, 3), c = new float[rows * n];
        var settings = new GemmSettings(Threading: GemmThreading.Split);
        Assert.Equal(0, AllocationMeter.LeastBytesPerCall(() =>
        {
            Gemm.MultiplyTransposedAddBias(a, rows, k, packed, c, n, settings);
            Gemm.MultiplyTransposedAddBias(a, 1, k, packed, c, n, settings);
        }));
    }

    /// <summary>
    /// rows = 1 .. maxRows of an n × k product with strided A and C: against the double reference, against the
    /// scalar chain bit for bit, and with C's padding columns left alone.
    /// </summary>
    private static void CheckAllRowCounts(GemmSettings settings, int n, int k, int maxRows, int seed)
    {
        float[] w = Matrix(n * k, seed), bias = Matrix(n, seed + 1);
        var packed = new PackedWeights(w, n, k, bias);
        int aStride = k + 3, cStride = n + 2;
        float[] a = Matrix(maxRows * aStride, seed + 2);
        var c = new float[maxRows * cStride];
        for (int rows = 1; rows <= maxRows; rows++)
        {
            Array.Fill(c, float.NaN);
            Gemm.MultiplyTransposedAddBias(a, rows, aStride, packed, c, cStride, settings);
            string where = $"{settings.Path} n={n} k={k} rows={rows}";
            AssertMatchesReference(a, rows, aStride, w, n, k, bias, c, cStride, where);
            for (int i = 0; i < maxRows; i++)
                for (int j = 0; j < cStride; j++)
                {
                    float value = c[i * cStride + j];
                    if (i < rows && j < n)
                    {
                        float chain = Chain(a, i, aStride, w, j, k, bias);
                        if (BitConverter.SingleToInt32Bits(chain) != BitConverter.SingleToInt32Bits(value))
                            Assert.Fail($"{where}: C[{i}, {j}] = {value:R}, the chain gives {chain:R}");
                    }
                    else if (!float.IsNaN(value))
                    {
                        Assert.Fail($"{where}: C[{i}, {j}] is outside the product but was written");
                    }
                }
        }
    }
}
