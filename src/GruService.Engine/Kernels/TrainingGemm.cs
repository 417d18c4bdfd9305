using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace GruService.Engine.Kernels;

/// <summary>
/// The float products of training on <see cref="Gemm"/>'s kernels: same shapes and meaning as
/// <c>Training.TrainingMath</c>, so each can replace its float case. Weights change every optimiser step, so the
/// right operand is packed into panels on every call (into pooled buffers: O(k·n) copies against O(m·k·n) work).
/// The training pass itself uses the internal forms: weights packed once per pass (<see cref="TrainingPanels"/>),
/// weight gradients with a workspace it keeps, or against gate gradients it packed step by step.
/// </summary>
public static class TrainingGemm
{
    /// <summary>
    /// c = a · bᵀ + bias for a [m, k], b [n, k], c [m, n] (empty bias: none). Bit-identical to <see cref="Gemm"/>
    /// with b packed once, so a training forward pass matches inference exactly.
    /// </summary>
    public static void MultiplyTransposed(ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, ReadOnlySpan<float> bias, Span<float> c) =>
        MultiplyTransposed(a, m, k, b, n, bias, c, default);

    /// <summary>c += aᵀ · b for a [m, k], b [m, n], c [k, n]: a weight gradient summed over the m rows of a batch.</summary>
    public static void AddTransposedProduct(ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c) =>
        AddTransposedProduct(a, m, k, b, n, c, default);

    /// <summary>c = a · b for a [m, k], b [k, n], c [m, n]: a gradient sent back through a weight.</summary>
    public static void Multiply(ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c) =>
        Multiply(a, m, k, b, n, c, default);

    internal static void MultiplyTransposed(ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, ReadOnlySpan<float> bias, Span<float> c,
        GemmSettings settings)
    {
        Require(m >= 0 && k >= 0 && n >= 0 && a.Length >= (long)m * k && b.Length >= (long)n * k && c.Length >= (long)m * n && (bias.IsEmpty || bias.Length >= n));
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            // No products: each element is its bias.
            for (int i = 0; i < m; i++)
                if (bias.IsEmpty) c.Slice(i * n, n).Clear(); else bias.Slice(0, n).CopyTo(c.Slice(i * n, n));
            return;
        }
        int panelled = PackedWeights.PanelCount(n) * PackedWeights.PanelWidth;
        float[] panels = ArrayPool<float>.Shared.Rent(panelled * k);
        float[] paddedBias = ArrayPool<float>.Shared.Rent(bias.IsEmpty ? 0 : panelled);
        try
        {
            Span<float> packed = panels.AsSpan(0, panelled * k);
            ClearTailPanel(packed, n, k);
            PackedWeights.PackPanels(b, outputStride: k, inputStride: 1, n, k, packed);
            Span<float> biasPanels = paddedBias.AsSpan(0, bias.IsEmpty ? 0 : panelled);
            if (!bias.IsEmpty)
            {
                biasPanels.Clear();
                bias.Slice(0, n).CopyTo(biasPanels);
            }
            Gemm.Run(new GemmOperands(a, m, k, packed, k, n, biasPanels, GemmStart.FromBias, c, n), settings);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(panels);
            ArrayPool<float>.Shared.Return(paddedBias);
        }
    }

    internal static void AddTransposedProduct(ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c, GemmSettings settings) =>
        AddTransposedProduct(a, m, k, b, n, c, settings, workspace: null);

    /// <summary>
    /// c += aᵀ · b with the copies it needs made in <paramref name="workspace"/> (kept by the caller, so that a
    /// training pass allocates nothing once warm), or in pooled arrays when it is null.
    /// </summary>
    internal static void AddTransposedProduct(ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c, GemmSettings settings,
        TrainingGemmWorkspace? workspace)
    {
        Require(m >= 0 && k >= 0 && n >= 0 && a.Length >= (long)m * k && b.Length >= (long)m * n && c.Length >= (long)k * n);
        if (m == 0 || k == 0 || n == 0) return;
        // The reduction runs over the batch rows. One operand must be transposed (for the kernel's row broadcasts,
        // a strided copy) and the other packed (a block copy). Transposing b instead of a, i.e. computing
        // cᵀ [n, k] += bᵀ · a, saves m·(k − n) strided copies and costs 2·k·n (c there and back): it pays for a gate
        // gradient against a long batch of narrow inputs (m = 7168, k = 384, n = 28), whose panels are then full too.
        bool transposeB = (long)m * (k - n) > 2L * k * n;
        int panelled = PackedWeights.PanelCount(transposeB ? k : n) * PackedWeights.PanelWidth;
        int transposedLength = transposeB ? n * m : k * m, transposedCLength = transposeB ? n * k : 0, panelsLength = panelled * m;
        if (workspace is not null)
        {
            Span<float> transposed = workspace.Transposed.Reserve(transposedLength), transposedC = workspace.TransposedC.Reserve(transposedCLength);
            Span<float> panels = workspace.Panels.Reserve(panelsLength);
            if (transposeB) AddTransposedProductTransposed(a, m, k, b, n, c, settings, transposed, transposedC, panels);
            else AddTransposedProductDirect(a, m, k, b, n, c, settings, transposed, panels);
            return;
        }
        float[] rentedTransposed = ArrayPool<float>.Shared.Rent(transposedLength);
        float[] rentedTransposedC = ArrayPool<float>.Shared.Rent(transposedCLength);
        float[] rentedPanels = ArrayPool<float>.Shared.Rent(panelsLength);
        try
        {
            Span<float> transposed = rentedTransposed.AsSpan(0, transposedLength), transposedC = rentedTransposedC.AsSpan(0, transposedCLength);
            Span<float> panels = rentedPanels.AsSpan(0, panelsLength);
            if (transposeB) AddTransposedProductTransposed(a, m, k, b, n, c, settings, transposed, transposedC, panels);
            else AddTransposedProductDirect(a, m, k, b, n, c, settings, transposed, panels);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rentedTransposed);
            ArrayPool<float>.Shared.Return(rentedTransposedC);
            ArrayPool<float>.Shared.Return(rentedPanels);
        }
    }

    /// <summary>c [k, n] += aᵀ [k, m] · b [m, n]: aᵀ made row-major, b packed with m as its reduction length.</summary>
    private static void AddTransposedProductDirect(ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c, GemmSettings settings,
        Span<float> aT, Span<float> packed)
    {
        Transpose(a, m, k, aT);
        ClearTailPanel(packed, n, m);
        PackRowMajor(b, m, n, packed);
        Gemm.Run(new GemmOperands(aT, k, m, packed, m, n, default, GemmStart.FromC, c, n), settings);
    }

    /// <summary>cᵀ [n, k] += bᵀ [n, m] · a [m, k]: bᵀ made row-major, a packed; c goes through cᵀ and back.</summary>
    private static void AddTransposedProductTransposed(ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c, GemmSettings settings,
        Span<float> bT, Span<float> cT, Span<float> packed)
    {
        ClearTailPanel(packed, k, m);
        PackRowMajor(a, m, k, packed);
        AddPackedTransposedProduct(packed, m, k, b, n, c, settings, bT, cT);
    }

    /// <summary>
    /// c [k, n] += aᵀ · b for b [m, n] and an a [m, k] that its producer packed already (<see cref="PackRows"/>:
    /// panels over a's k columns, its m rows the reduction, padding lanes zero). A training pass packs its per-step
    /// gate gradients into these panels step by step while they are in cache, rather than writing them row-major
    /// and packing millions of values afterwards.
    /// </summary>
    internal static void AddPackedTransposedProduct(ReadOnlySpan<float> packedA, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c,
        GemmSettings settings, TrainingGemmWorkspace workspace)
    {
        Require(m >= 0 && k >= 0 && n >= 0 && packedA.Length >= (long)PackedWeights.PanelCount(k) * PackedWeights.PanelWidth * m
            && b.Length >= (long)m * n && c.Length >= (long)k * n);
        if (m == 0 || k == 0 || n == 0) return;
        AddPackedTransposedProduct(packedA, m, k, b, n, c, settings, workspace.Transposed.Reserve((long)n * m), workspace.TransposedC.Reserve((long)n * k));
    }

    private static void AddPackedTransposedProduct(ReadOnlySpan<float> packedA, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c,
        GemmSettings settings, Span<float> bT, Span<float> cT)
    {
        Transpose(b, m, n, bT);
        Transpose(c, k, n, cT);
        Gemm.Run(new GemmOperands(bT, n, m, packedA, m, k, default, GemmStart.FromC, cT, k), settings);
        Transpose(cT, n, k, c);
    }

    /// <summary>
    /// Packs rows [0, rows) of a [rows, columns] row-major into rows [firstRow, firstRow + rows) of panels holding
    /// <paramref name="panelRows"/> rows in all (the layout <see cref="AddPackedTransposedProduct(ReadOnlySpan{float}, int, int, ReadOnlySpan{float}, int, Span{float}, GemmSettings, TrainingGemmWorkspace)"/>
    /// reads). Padding lanes are left alone.
    /// </summary>
    internal static void PackRows(ReadOnlySpan<float> a, int rows, int columns, Span<float> panels, int panelRows, int firstRow)
    {
        if (firstRow < 0 || rows < 0 || firstRow + rows > panelRows || a.Length < (long)rows * columns
            || panels.Length < (long)PackedWeights.PanelCount(columns) * PackedWeights.PanelWidth * panelRows)
            throw new ArgumentException("A span is shorter than the matrix shape given for it.");
        PackRowMajor(a, rows, columns, panels.Slice(firstRow * PackedWeights.PanelWidth), panelRows);
    }

    internal static void Multiply(ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, Span<float> c, GemmSettings settings)
    {
        Require(m >= 0 && k >= 0 && n >= 0 && a.Length >= (long)m * k && b.Length >= (long)k * n && c.Length >= (long)m * n);
        if (m == 0 || n == 0) return;
        if (k == 0)
        {
            c.Slice(0, m * n).Clear();
            return;
        }
        int panelled = PackedWeights.PanelCount(n) * PackedWeights.PanelWidth;
        float[] panels = ArrayPool<float>.Shared.Rent(panelled * k);
        try
        {
            Span<float> packed = panels.AsSpan(0, panelled * k);
            ClearTailPanel(packed, n, k);
            // b [k, n]: output j, reduction p at b[p·n + j].
            PackRowMajor(b, k, n, packed);
            Gemm.Run(new GemmOperands(a, m, k, packed, k, n, default, GemmStart.FromBias, c, n), settings);
        }
        finally
        {
            ArrayPool<float>.Shared.Return(panels);
        }
    }

    /// <summary>
    /// Packs B [rows, columns] row-major into panels whose reduction runs over its rows (what
    /// <see cref="PackedWeights.PackPanels"/> does with output stride 1), row by row: each source row is read once,
    /// front to back, and each 16-value line is two vector copies. The weight gradients pack whole batches of
    /// per-step gradients this way (millions of values), where a copy call per line would cost more than the data.
    /// The last panel's padding lanes are left as they were.
    /// </summary>
    internal static void PackRowMajor(ReadOnlySpan<float> b, int rows, int columns, Span<float> panels) =>
        PackRowMajor(b, rows, columns, panels, rows);

    /// <summary><see cref="PackRowMajor(ReadOnlySpan{float}, int, int, Span{float})"/> into panels of <paramref name="panelRows"/> rows each.</summary>
    private static void PackRowMajor(ReadOnlySpan<float> b, int rows, int columns, Span<float> panels, int panelRows)
    {
        const int W = PackedWeights.PanelWidth;
        int fullPanels = columns / W, tail = columns % W;
        nint panelSize = (nint)panelRows * W;
        if (b.Length < (long)rows * columns || panels.Length < (long)(PackedWeights.PanelCount(columns) - 1) * panelSize + (long)rows * W)
            throw new ArgumentException("A span is shorter than the matrix shape given for it.");
        ref float source = ref MemoryMarshal.GetReference(b);
        ref float target = ref MemoryMarshal.GetReference(panels);
        for (nint r = 0; r < rows; r++)
        {
            ref float row = ref Unsafe.Add(ref source, r * columns);
            ref float line = ref Unsafe.Add(ref target, r * W);
            for (nint p = 0; p < fullPanels; p++)
            {
                ref float from = ref Unsafe.Add(ref row, p * W);
                ref float to = ref Unsafe.Add(ref line, p * panelSize);
                Vector256.LoadUnsafe(ref from).StoreUnsafe(ref to);
                Vector256.LoadUnsafe(ref from, 8).StoreUnsafe(ref to, 8);
            }
            for (int lane = 0; lane < tail; lane++)
                Unsafe.Add(ref line, fullPanels * panelSize + lane) = Unsafe.Add(ref row, fullPanels * W + lane);
        }
    }

    /// <summary>Pooled buffers hold old values: the padding lanes of the last panel must not carry NaNs or denormals.</summary>
    internal static void ClearTailPanel(Span<float> panels, int outputs, int inputs)
    {
        if (outputs % PackedWeights.PanelWidth == 0) return;
        int size = inputs * PackedWeights.PanelWidth;
        panels.Slice((PackedWeights.PanelCount(outputs) - 1) * size, size).Clear();
    }

    /// <summary>t [k, m] = a [m, k]ᵀ (a's first m·k values), in 16 × 16 blocks so that both sides stay in a few cache lines.</summary>
    /// <remarks>
    /// With AVX the inside of a block goes 8 × 8 at a time through registers (8 row loads, 24 shuffles, 8 column
    /// stores): a scalar element-by-element copy measured ~4 ns per value, a tenth of a training step for the previous
    /// states that dW_hh reads transposed.
    /// </remarks>
    private static void Transpose(ReadOnlySpan<float> a, int m, int k, Span<float> t)
    {
        const int Block = 16;
        if ((long)m * k > Math.Min(a.Length, t.Length)) throw new ArgumentException("A span is shorter than the matrix shape given for it.");
        // Bounds were checked above: the copy loops index through refs (this copy is the price of a weight gradient).
        ref float source = ref MemoryMarshal.GetReference(a);
        ref float target = ref MemoryMarshal.GetReference(t);
        for (int i0 = 0; i0 < m; i0 += Block)
        {
            int i1 = Math.Min(m, i0 + Block);
            for (int p0 = 0; p0 < k; p0 += Block)
            {
                int p1 = Math.Min(k, p0 + Block);
                if (Avx.IsSupported && i1 - i0 == Block && p1 - p0 == Block)
                {
                    for (int i = i0; i < i1; i += 8)
                        for (int p = p0; p < p1; p += 8)
                            Transpose8x8(ref Unsafe.Add(ref source, (nint)i * k + p), k, ref Unsafe.Add(ref target, (nint)p * m + i), m);
                    continue;
                }
                for (int i = i0; i < i1; i++)
                {
                    ref float row = ref Unsafe.Add(ref source, (nint)i * k);
                    for (int p = p0; p < p1; p++) Unsafe.Add(ref target, (nint)p * m + i) = Unsafe.Add(ref row, p);
                }
            }
        }
    }

    /// <summary>The 8 × 8 block at <paramref name="source"/> (rows <paramref name="sourceStride"/> apart) transposed to <paramref name="target"/>.</summary>
    private static void Transpose8x8(ref float source, nint sourceStride, ref float target, nint targetStride)
    {
        Vector256<float> r0 = Vector256.LoadUnsafe(ref source), r1 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, sourceStride));
        Vector256<float> r2 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 2 * sourceStride)), r3 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 3 * sourceStride));
        Vector256<float> r4 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 4 * sourceStride)), r5 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 5 * sourceStride));
        Vector256<float> r6 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 6 * sourceStride)), r7 = Vector256.LoadUnsafe(ref Unsafe.Add(ref source, 7 * sourceStride));
        // Pairs of rows interleaved, then pairs of pairs, then the 128-bit halves swapped into place.
        Vector256<float> t0 = Avx.UnpackLow(r0, r1), t1 = Avx.UnpackHigh(r0, r1), t2 = Avx.UnpackLow(r2, r3), t3 = Avx.UnpackHigh(r2, r3);
        Vector256<float> t4 = Avx.UnpackLow(r4, r5), t5 = Avx.UnpackHigh(r4, r5), t6 = Avx.UnpackLow(r6, r7), t7 = Avx.UnpackHigh(r6, r7);
        Vector256<float> u0 = Avx.Shuffle(t0, t2, 0x44), u1 = Avx.Shuffle(t0, t2, 0xEE), u2 = Avx.Shuffle(t1, t3, 0x44), u3 = Avx.Shuffle(t1, t3, 0xEE);
        Vector256<float> u4 = Avx.Shuffle(t4, t6, 0x44), u5 = Avx.Shuffle(t4, t6, 0xEE), u6 = Avx.Shuffle(t5, t7, 0x44), u7 = Avx.Shuffle(t5, t7, 0xEE);
        Avx.Permute2x128(u0, u4, 0x20).StoreUnsafe(ref target);
        Avx.Permute2x128(u1, u5, 0x20).StoreUnsafe(ref Unsafe.Add(ref target, targetStride));
        Avx.Permute2x128(u2, u6, 0x20).StoreUnsafe(ref Unsafe.Add(ref target, 2 * targetStride));
        Avx.Permute2x128(u3, u7, 0x20).StoreUnsafe(ref Unsafe.Add(ref target, 3 * targetStride));
        Avx.Permute2x128(u0, u4, 0x31).StoreUnsafe(ref Unsafe.Add(ref target, 4 * targetStride));
        Avx.Permute2x128(u1, u5, 0x31).StoreUnsafe(ref Unsafe.Add(ref target, 5 * targetStride));
        Avx.Permute2x128(u2, u6, 0x31).StoreUnsafe(ref Unsafe.Add(ref target, 6 * targetStride));
        Avx.Permute2x128(u3, u7, 0x31).StoreUnsafe(ref Unsafe.Add(ref target, 7 * targetStride));
    }

    private static void Require(bool shapesFit)
    {
        if (!shapesFit) throw new ArgumentException("A span is shorter than the matrix shape given for it.");
    }
}

/// <summary>The scratch memory of <see cref="TrainingGemm"/>'s weight-gradient products, kept between calls by one caller.</summary>
internal sealed class TrainingGemmWorkspace
{
    internal readonly AlignedFloats Transposed = new(), TransposedC = new(), Panels = new();
}
