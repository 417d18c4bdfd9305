using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace GruService.Engine.Kernels;

/// <summary>
/// C[i, j] = bias[j] + Σ_k A[i, k] · W[j, k] against weights packed once (<see cref="PackedWeights"/>).
/// </summary>
/// <remarks>
/// <para>
/// Every output element is one chain of fused multiply-adds, acc = bias[j]; acc = fma(A[i, k], W[j, k], acc) for k
/// from 0 upwards, whatever computes it: the register-blocked tile, the one-row (matrix-vector) kernel, the scalar
/// fallback, either thread, any K block (a K block ends by storing acc to C and the next reloads it, both exact). So
/// a row's result never depends on how many rows share the call, where it sits in a tile, or how the work was
/// split: a sequence's answer is bit-identical batched or alone. The tests check this bit for bit.
/// </para>
/// <para>
/// Loop order, outermost first: K blocks (none by default), panel groups (≤ 2 MB of W, so that a W larger than L3
/// is not fetched from memory once per row block), row blocks (C ≈ 8 KB, written nearly row by row: 6 rows for
/// N ≥ 384), panels, row tiles. Each constant below says what was measured to choose it. Large products are split
/// between two cores (<see cref="SecondCore"/>).
/// </para>
/// </remarks>
public static class Gemm
{
    /// <summary>
    /// C = bias + A · Wᵀ for A [rows, Inputs] with rows <paramref name="aStride"/> apart and C [rows, Outputs] with
    /// rows <paramref name="cStride"/> apart (so A and C may be column slices of wider matrices).
    /// Allocates nothing; products large enough to pay for it run on two cores.
    /// </summary>
    public static void MultiplyTransposedAddBias(ReadOnlySpan<float> a, int rows, int aStride, PackedWeights weights, Span<float> c, int cStride) =>
        MultiplyTransposedAddBias(a, rows, aStride, weights, c, cStride, new GemmSettings());

    /// <summary>Contiguous A [rows, Inputs] and C [rows, Outputs].</summary>
    public static void MultiplyTransposedAddBias(ReadOnlySpan<float> a, int rows, PackedWeights weights, Span<float> c) =>
        MultiplyTransposedAddBias(a, rows, weights.Inputs, weights, c, weights.Outputs, new GemmSettings());

    /// <summary>
    /// The product, then <paramref name="epilogue"/> on every row of C (e.g. a GRU step's gate math): each block of
    /// rows is handed to it by the thread that computed the block, as soon as it is final and while it is still in
    /// that core's cache, so the epilogue is split over the two cores as the product is.
    /// </summary>
    /// <remarks>
    /// <see cref="IGemmRowEpilogue.RowsDone"/> is called once for each of some disjoint blocks that cover
    /// [0, rows), two at a time on different threads; when it runs for a block, the product reads those rows of A
    /// no more, so the epilogue may overwrite them (the hidden state a recurrent product reads). Reuse one epilogue
    /// object: nothing else is allocated.
    /// </remarks>
    public static void MultiplyTransposedAddBias(ReadOnlySpan<float> a, int rows, int aStride, PackedWeights weights, Span<float> c, int cStride,
        IGemmRowEpilogue epilogue)
    {
        ArgumentNullException.ThrowIfNull(epilogue);
        MultiplyTransposedAddBias(a, rows, aStride, weights, c, cStride, new GemmSettings(), epilogue);
    }

    internal static void MultiplyTransposedAddBias(ReadOnlySpan<float> a, int rows, int aStride, PackedWeights weights, Span<float> c, int cStride,
        GemmSettings settings, IGemmRowEpilogue? epilogue = null)
    {
        ArgumentNullException.ThrowIfNull(weights);
        Run(new GemmOperands(a, rows, aStride, weights.Data, weights.Inputs, weights.Outputs, weights.Bias, GemmStart.FromBias, c, cStride), settings, epilogue);
    }

    private static int s_maxThreads = Math.Min(2, Environment.ProcessorCount);

    /// <summary>
    /// Process-wide: 2 (the default on a machine with two or more cores) lets products large enough to pay for it
    /// use a second core; 1 keeps every product on its caller's thread, e.g. where concurrent requests already
    /// keep every core busy, or to measure one core.
    /// </summary>
    public static int MaxThreads
    {
        get => Volatile.Read(ref s_maxThreads);
        set
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 2);
            Volatile.Write(ref s_maxThreads, value);
        }
    }

    [ThreadStatic]
    private static bool t_stayOnThisThread;

    /// <summary>
    /// Until the returned scope is disposed, every product this thread starts with automatic threading stays on this
    /// thread, whatever <see cref="MaxThreads"/> says (<paramref name="stay"/> false changes nothing). For a caller that
    /// knows the other core has work of its own, such as a server with other requests in flight: a split then only adds
    /// hand-offs and a helper spinning for the next product, and measured under load it cost a fifth of the requests
    /// served. The results are the same bit for bit either way.
    /// </summary>
    public static ThreadScope StayOnThisThread(bool stay = true)
    {
        bool previous = t_stayOnThisThread;
        t_stayOnThisThread = previous || stay;
        return new ThreadScope(previous);
    }

    /// <summary>Whether <see cref="StayOnThisThread"/> is in force on the calling thread.</summary>
    internal static bool StaysOnThisThread => t_stayOnThisThread;

    /// <summary>Restores the calling thread's setting from before <see cref="StayOnThisThread"/>.</summary>
    public readonly struct ThreadScope : IDisposable
    {
        private readonly bool _previous;

        internal ThreadScope(bool previous) => _previous = previous;

        public void Dispose() => t_stayOnThisThread = _previous;
    }

    /// <summary>Whether a product of this many multiply-adds with automatic threading would be split over two cores now, on this thread.</summary>
    internal static bool SplitsAutomatically(long multiplyAdds) =>
        multiplyAdds >= SplitMinMultiplyAdds && MaxThreads > 1 && !t_stayOnThisThread && SecondCore.Worthwhile;

    /// <summary>Which kernels <see cref="GemmPath.Auto"/> picks on this machine.</summary>
    internal static GemmPath BestPath =>
        Vector512.IsHardwareAccelerated ? GemmPath.Vector512
        : Vector256.IsHardwareAccelerated ? GemmPath.Vector256
        : GemmPath.Scalar;

    /// <summary>At most this many rows per row block (for a narrow C), so that their A stays in L2 for K up to ~1000.</summary>
    internal const int DefaultRowBlock = 96;

    /// <summary>
    /// Row blocks are sized so that the block of C they write (rows × N) stays in L1 (these bytes, rounded up to
    /// whole tiles: 6 rows for N ≥ 384, 12 for N = 192): C then leaves the core row after row. It matters where C
    /// is large and K small, as in the input projection of a long batch: 6400 × 32 × 768 runs at 51 GFLOP/s on one
    /// core with 6-row blocks, 31 with 96-row blocks (two cores: 111 and 56); 7168 × 28 × 384 at 65 and 53.
    /// Products with a long K hardly care (94–98 GFLOP/s for any block): the tile's W panel then streams from L2 or
    /// L3 at ~10 bytes per cycle, well within either.
    /// </summary>
    internal const int RowBlockOutputBytes = 8 * 1024;

    /// <summary>The row block for N outputs (the kernels round it up to whole tiles).</summary>
    internal static int RowBlockFor(int n) => Math.Clamp(RowBlockOutputBytes / (n * sizeof(float)), 1, DefaultRowBlock);

    /// <summary>
    /// Reduction steps per K block: by default K is not blocked. A K block only pays where a panel's block is
    /// reused from L1 by many row tiles; with the small row blocks above it is not, and blocking only adds passes over C:
    /// measured on one core, 512 × 1024 × 1024 runs at 96 GFLOP/s unblocked and 85 with 256-step blocks,
    /// 300 × 2048 × 512 at 94 and 84, 2048 × 512 × 256 at 91 and 83; even at K = 16384 blocks of 512 lose (66 against
    /// 76). The mechanism stays (the tests force small blocks, proving the results do not change).
    /// </summary>
    internal const int DefaultKBlock = int.MaxValue;

    /// <summary>
    /// Bytes of packed W (a group of panels' K block) that every row passes over before the next group. The 6 × 16
    /// kernel needs ~10–15 bytes of W per cycle, which L2 and L3 deliver, so W up to a few MB simply streams; a W that
    /// outgrows L3 would come from memory once per row block. Measured on one core: 600 × 2048 × 4096 (W 32 MB) runs at
    /// 36 GFLOP/s without groups and 94 with 2 MB groups (86 with 256 KB); 120 × 16384 × 1024 (W 64 MB) at 38 and 76.
    /// Products whose W is below 2 MB (all of a GRU's) form one group: no change.
    /// </summary>
    internal const int DefaultPanelBlockBytes = 2 * 1024 * 1024;

    /// <summary>
    /// Products smaller than this stay on one core. Handing half to the second core and back costs ~0.7 µs; measured
    /// break-even is at 50–64 K multiply-adds whatever the shape (1 × 64 × 192: 0.7 µs alone, 0.9 µs split;
    /// 20 × 32 × 96: 1.7 µs alone, 2.7 µs split; 8 × 64 × 192: 3.0 µs alone, 2.1 µs split).
    /// </summary>
    internal const long SplitMinMultiplyAdds = 64 * 1024;

    internal static void Run(in GemmOperands op, GemmSettings settings, IGemmRowEpilogue? epilogue = null)
    {
        op.Validate();
        if (op.Rows == 0) return;
        GemmPath path = settings.Path == GemmPath.Auto ? BestPath : settings.Path;
        int kBlock = Math.Min(op.K, settings.KBlock > 0 ? settings.KBlock : DefaultKBlock);
        int rowBlock = settings.RowBlock > 0 ? settings.RowBlock : RowBlockFor(op.N);
        int panelBlockBytes = settings.PanelBlockBytes > 0 ? settings.PanelBlockBytes : DefaultPanelBlockBytes;
        var plan = new GemmPlan(path, kBlock, rowBlock, panelBlockBytes, ChooseSplit(op, settings, path, epilogue is not null));
        if (plan.Split.Chunks > 1 && settings.Threading != GemmThreading.Single)
        {
            // Row chunks hand their rows to the epilogue as they finish; panel chunks all share every row.
            IGemmRowEpilogue? perChunk = plan.Split.ByRows ? epilogue : null;
            if (settings.Threading == GemmThreading.ThreadPool)
                SecondCore.RunOnThreadPool(op, plan, perChunk);
            else
                SecondCore.Run(op, plan, perChunk, stealFromHelper: settings.Threading != GemmThreading.SplitWithoutStealing);
            if (!plan.Split.ByRows) epilogue?.RowsDone(0, op.Rows);
            return;
        }
        RunBlock(op, plan, 0, op.Rows, 0, op.PanelCount);
        epilogue?.RowsDone(0, op.Rows);
    }

    /// <summary>Rows of a product below which an epilogue runs after a split over panels rather than per row chunk.</summary>
    private const int EpilogueRowSplitMinRows = 12;

    private static GemmSplit ChooseSplit(in GemmOperands op, GemmSettings settings, GemmPath path, bool hasEpilogue)
    {
        long multiplyAdds = (long)op.Rows * op.K * op.N;
        bool wanted = settings.Threading switch
        {
            GemmThreading.Single => false,
            GemmThreading.Auto => SplitsAutomatically(multiplyAdds),
            _ => true,
        };
        if (!wanted) return default;
        // Each core reads its share of one operand and all of the other: split the larger one. Splitting W also
        // keeps each core's half of a recurrent weight in its own L2 from one time step to the next.
        // With an epilogue, a split over rows also splits the epilogue (a GRU's gate math), worth more than keeping
        // each core on half of W; with a few rows the epilogue is small and W's halves in L2 matter more.
        bool byRows = settings.SplitBy switch
        {
            GemmSplitBy.Rows => true,
            GemmSplitBy.Panels => false,
            _ => op.Rows > op.N || (hasEpilogue && op.Rows >= EpilogueRowSplitMinRows),
        };
        if (byRows)
        {
            if (op.Rows < 2) return default;
            // Equal halves, each cut into up to 4 chunks (one per ~48 rows) that a caller can take from a late helper.
            int chunksPerCore = Math.Clamp(op.Rows / 48, 1, 4);
            int chunkRows = (op.Rows + 2 * chunksPerCore - 1) / (2 * chunksPerCore);
            return new GemmSplit(true, chunkRows, (op.Rows + chunkRows - 1) / chunkRows);
        }
        int panels = op.PanelCount;
        if (panels < 2) return default;
        // Chunks as wide as the row kernel's group (a narrower one runs too few chains for the FMA latency), or
        // else one half each: 48 panels → 12 chunks of 4, 12 → 2 of 6, 6 → 2 of 3.
        int group = path switch
        {
            GemmPath.Vector512 => Vector512Kernels.RowPanels,
            GemmPath.Vector256 => Vector256Kernels.RowPanels,
            _ => ScalarKernels.RowPanels,
        };
        int chunkPanels = panels >= 4 * group ? group : (panels + 1) / 2;
        return new GemmSplit(false, chunkPanels, (panels + chunkPanels - 1) / chunkPanels);
    }

    /// <summary>One chunk of a split product on the calling thread, then (for a chunk of rows) its epilogue.</summary>
    internal static void RunChunk(in GemmOperands op, in GemmPlan plan, int chunk, IGemmRowEpilogue? epilogue)
    {
        GemmSplit split = plan.Split;
        if (split.ByRows)
        {
            int first = chunk * split.ChunkSize, end = Math.Min(op.Rows, first + split.ChunkSize);
            RunBlock(op, plan, first, end, 0, op.PanelCount);
            epilogue?.RowsDone(first, end - first);
        }
        else
        {
            int first = chunk * split.ChunkSize;
            RunBlock(op, plan, 0, op.Rows, first, Math.Min(op.PanelCount, first + split.ChunkSize));
        }
    }

    internal static void RunBlock(in GemmOperands op, in GemmPlan plan, int rowStart, int rowEnd, int panelStart, int panelEnd)
    {
        switch (plan.Path)
        {
            case GemmPath.Vector512: RunBlock<Vector512Kernels>(op, plan, rowStart, rowEnd, panelStart, panelEnd); break;
            case GemmPath.Vector256: RunBlock<Vector256Kernels>(op, plan, rowStart, rowEnd, panelStart, panelEnd); break;
            default: RunBlock<ScalarKernels>(op, plan, rowStart, rowEnd, panelStart, panelEnd); break;
        }
    }

    /// <summary>Zeros for chains that start from nothing: enough for the widest kernel's columns.</summary>
    private static readonly float[] s_zeros = new float[8 * PackedWeights.PanelWidth];

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void RunBlock<TKernels>(in GemmOperands op, in GemmPlan plan, int rowStart, int rowEnd, int panelStart, int panelEnd)
        where TKernels : struct, IGemmKernels
    {
        const int W = PackedWeights.PanelWidth;
        int tileRows = TKernels.TileRows, tilePanels = TKernels.TilePanels, rowPanels = TKernels.RowPanels;
        int kBlock = plan.KBlock;
        // Row blocks hold whole tiles, so tile shapes (and the rows that fall to the row kernel) do not depend on them.
        int rowBlock = (Math.Clamp(plan.RowBlock, 1, Math.Max(1, rowEnd - rowStart)) + tileRows - 1) / tileRows * tileRows;
        int k = op.K, n = op.N, lastPanel = op.PanelCount - 1;
        bool tailPanel = n % W != 0;
        nint panelStride = (nint)k * W;
        // The last panel is zero-padded past n, but C is not: its tiles run in this buffer and copy the valid columns.
        Span<float> tailTile = stackalloc float[8 * 2 * W];

        ref float a = ref MemoryMarshal.GetReference(op.A);
        ref float panels = ref MemoryMarshal.GetReference(op.Panels);
        ref float c = ref MemoryMarshal.GetReference(op.C);
        // Without a bias every panel starts from the same zeros.
        bool hasBias = op.Start == GemmStart.FromBias && !op.Bias.IsEmpty;
        ref float bias = ref hasBias ? ref MemoryMarshal.GetReference(op.Bias) : ref s_zeros[0];
        int biasPanelStep = hasBias ? W : 0;
        nint aStride = op.AStride, cStride = op.CStride;

        // Rows past the last whole tile: if too few for a tile to hide the FMA latency, each runs the row kernel.
        int rows = rowEnd - rowStart;
        int leftover = rows % tileRows;
        int rowKernelRows = leftover < TKernels.MinTileRows ? leftover : 0;
        int tiledEnd = rowEnd - rowKernelRows;

        for (int k0 = 0; k0 < k; k0 += kBlock)
        {
            nint kCount = Math.Min(kBlock, k - k0);
            // Later K blocks, and accumulating products, continue the chains C already holds.
            bool fromC = k0 > 0 || op.Start == GemmStart.FromC;
            // Panel groups whose K block fits the L2 budget: every row passes over a group before the next one.
            int groupPanels = Math.Clamp(plan.PanelBlockBytes / (int)Math.Min(int.MaxValue, kCount * W * sizeof(float)) / tilePanels * tilePanels,
                tilePanels, Math.Max(tilePanels, panelEnd - panelStart));
            for (int g0 = panelStart; g0 < panelEnd; g0 += groupPanels)
            for (int m0 = rowStart; m0 < tiledEnd; m0 += rowBlock)
            {
                int m1 = Math.Min(m0 + rowBlock, tiledEnd), g1 = Math.Min(panelEnd, g0 + groupPanels);
                for (int p0 = g0; p0 < g1; p0 += tilePanels)
                {
                    int tilePanelCount = Math.Min(tilePanels, g1 - p0);
                    ref float panel = ref Unsafe.Add(ref panels, p0 * panelStride + k0 * W);
                    bool partial = tailPanel && p0 + tilePanelCount - 1 == lastPanel;
                    for (int i = m0; i < m1; i += tileRows)
                    {
                        int tileRowCount = Math.Min(tileRows, m1 - i);
                        ref float aTile = ref Unsafe.Add(ref a, i * aStride + k0);
                        ref float cTile = ref Unsafe.Add(ref c, i * cStride + p0 * W);
                        if (!partial)
                        {
                            if (fromC)
                                TKernels.Tile(tileRowCount, tilePanelCount, ref aTile, aStride, ref panel, panelStride, kCount, ref cTile, cStride, ref cTile, cStride);
                            else
                                TKernels.Tile(tileRowCount, tilePanelCount, ref aTile, aStride, ref panel, panelStride, kCount, ref Unsafe.Add(ref bias, p0 * biasPanelStep), 0, ref cTile, cStride);
                            continue;
                        }
                        int width = tilePanelCount * W, valid = n - p0 * W;
                        ref float tile = ref MemoryMarshal.GetReference(tailTile);
                        if (fromC)
                        {
                            for (int r = 0; r < tileRowCount; r++)
                                op.C.Slice((i + r) * op.CStride + p0 * W, valid).CopyTo(tailTile.Slice(r * width));
                            TKernels.Tile(tileRowCount, tilePanelCount, ref aTile, aStride, ref panel, panelStride, kCount, ref tile, width, ref tile, width);
                        }
                        else
                        {
                            TKernels.Tile(tileRowCount, tilePanelCount, ref aTile, aStride, ref panel, panelStride, kCount, ref Unsafe.Add(ref bias, p0 * biasPanelStep), 0, ref tile, width);
                        }
                        for (int r = 0; r < tileRowCount; r++)
                            tailTile.Slice(r * width, valid).CopyTo(op.C.Slice((i + r) * op.CStride + p0 * W));
                    }
                }
            }

            for (int i = tiledEnd; i < rowEnd; i++)
            {
                ref float aRow = ref Unsafe.Add(ref a, i * aStride + k0);
                for (int p0 = panelStart; p0 < panelEnd; p0 += rowPanels)
                {
                    int count = Math.Min(rowPanels, panelEnd - p0);
                    ref float panel = ref Unsafe.Add(ref panels, p0 * panelStride + k0 * W);
                    ref float cRow = ref Unsafe.Add(ref c, i * cStride + p0 * W);
                    ref float start = ref fromC ? ref cRow : ref Unsafe.Add(ref bias, p0 * biasPanelStep);
                    if (!(tailPanel && p0 + count - 1 == lastPanel))
                    {
                        TKernels.Row(count, ref aRow, ref panel, panelStride, kCount, ref start, ref cRow);
                        continue;
                    }
                    int valid = n - p0 * W;
                    ref float tile = ref MemoryMarshal.GetReference(tailTile);
                    if (fromC)
                    {
                        op.C.Slice(i * op.CStride + p0 * W, valid).CopyTo(tailTile);
                        TKernels.Row(count, ref aRow, ref panel, panelStride, kCount, ref tile, ref tile);
                    }
                    else
                    {
                        TKernels.Row(count, ref aRow, ref panel, panelStride, kCount, ref start, ref tile);
                    }
                    tailTile.Slice(0, valid).CopyTo(op.C.Slice(i * op.CStride + p0 * W));
                }
            }
        }
    }
}

/// <summary>Work on rows of a product's C that are final: see <see cref="Gemm.MultiplyTransposedAddBias(ReadOnlySpan{float}, int, int, PackedWeights, Span{float}, int, IGemmRowEpilogue)"/>.</summary>
public interface IGemmRowEpilogue
{
    /// <summary>Rows [first, first + count) of C are final. May run on another thread than the product's caller.</summary>
    void RowsDone(int first, int count);
}

/// <summary>Which kernels run: <see cref="Auto"/> is the widest the hardware accelerates. Tests force each.</summary>
internal enum GemmPath
{
    Auto,
    Vector512,
    Vector256,
    Scalar,
}

internal enum GemmThreading
{
    /// <summary>Two cores when the product is large enough (<see cref="Gemm.SplitMinMultiplyAdds"/>) and the helper has been on time.</summary>
    Auto,
    Single,
    /// <summary>Split over two cores whatever the size.</summary>
    Split,
    /// <summary>Split, and the caller never takes the helper's chunks: makes tests see the helper's work.</summary>
    SplitWithoutStealing,
    /// <summary>Split through Parallel.For instead of the resident helper: kept to measure the two against each other.</summary>
    ThreadPool,
}

internal enum GemmSplitBy
{
    Auto,
    Rows,
    Panels,
}

/// <summary>Knobs for tests and benchmarks; the default value is what the public API uses.</summary>
internal readonly record struct GemmSettings(
    GemmPath Path = GemmPath.Auto,
    int KBlock = 0,
    int RowBlock = 0,
    int PanelBlockBytes = 0,
    GemmThreading Threading = GemmThreading.Auto,
    GemmSplitBy SplitBy = GemmSplitBy.Auto);

/// <summary>How a product is cut into chunks for two threads: ChunkSize rows (or panels) each.</summary>
internal readonly record struct GemmSplit(bool ByRows, int ChunkSize, int Chunks);

internal readonly record struct GemmPlan(GemmPath Path, int KBlock, int RowBlock, int PanelBlockBytes, GemmSplit Split);

/// <summary>Where the chains start: the bias (zeros when there is none), or what C holds (to accumulate into it).</summary>
internal enum GemmStart
{
    FromBias,
    FromC,
}

/// <summary>
/// One product: A [Rows, K] (rows AStride apart), panels as <see cref="PackedWeights.Data"/> holds them for an
/// N × K weight, the bias padded to whole panels (empty: zeros), C [Rows, N] (rows CStride apart).
/// </summary>
internal readonly ref struct GemmOperands(
    ReadOnlySpan<float> a, int rows, int aStride, ReadOnlySpan<float> panels, int k, int n, ReadOnlySpan<float> bias, GemmStart start,
    Span<float> c, int cStride)
{
    public readonly ReadOnlySpan<float> A = a;
    public readonly int Rows = rows;
    public readonly int AStride = aStride;
    public readonly ReadOnlySpan<float> Panels = panels;
    public readonly int K = k;
    public readonly int N = n;
    public readonly ReadOnlySpan<float> Bias = bias;
    public readonly GemmStart Start = start;
    public readonly Span<float> C = c;
    public readonly int CStride = cStride;

    public int PanelCount => PackedWeights.PanelCount(N);

    /// <summary>Every bound the kernels rely on, checked once so that they can index without checks.</summary>
    public void Validate()
    {
        if (Rows < 0) throw new ArgumentOutOfRangeException("rows", Rows, "rows cannot be negative.");
        if (K < 1 || N < 1) throw new ArgumentException("The weight needs at least one input and one output.");
        if (AStride < K) throw new ArgumentOutOfRangeException("aStride", AStride, $"A's rows hold {K} values; its stride cannot be less.");
        if (CStride < N) throw new ArgumentOutOfRangeException("cStride", CStride, $"C's rows hold {N} values; its stride cannot be less.");
        if (Panels.Length < (long)PanelCount * PackedWeights.PanelWidth * K) throw new ArgumentException("The packed weight is shorter than its shape.");
        if (Start == GemmStart.FromBias && !Bias.IsEmpty && Bias.Length < (long)PanelCount * PackedWeights.PanelWidth)
            throw new ArgumentException("The bias must be padded to whole panels.");
        if (Rows == 0) return;
        if (A.Length < (long)(Rows - 1) * AStride + K) throw new ArgumentException($"A is shorter than {Rows} rows {AStride} apart.", "a");
        if (C.Length < (long)(Rows - 1) * CStride + N) throw new ArgumentException($"C is shorter than {Rows} rows {CStride} apart.", "c");
    }
}
