using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace GruService.Engine.Kernels;

/// <summary>
/// The float products of training on <see cref="Gemm"/>'s kernels: same shapes and meaning as
/// <c>Training.TrainingMath</c>, so each can replace its float case. Weights change every optimiser step, so the
/// right operand is packed into panels on every call (into pooled buffers: O(k·n) copies against O(m·k·n) work).
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
        Transpose(b, m, n, bT);
        Transpose(c, k, n, cT);
        ClearTailPanel(packed, k, m);
        PackRowMajor(a, m, k, packed);
        Gemm.Run(new GemmOperands(bT, n, m, packed, m, k, default, GemmStart.FromC, cT, k), settings);
        Transpose(cT, n, k, c);
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
    internal static void PackRowMajor(ReadOnlySpan<float> b, int rows, int columns, Span<float> panels)
    {
        const int W = PackedWeights.PanelWidth;
        int fullPanels = columns / W, tail = columns % W;
        nint panelSize = (nint)rows * W;
        if (b.Length < (long)rows * columns || panels.Length < (long)PackedWeights.PanelCount(columns) * panelSize)
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
    private static void ClearTailPanel(Span<float> panels, int outputs, int inputs)
    {
        if (outputs % PackedWeights.PanelWidth == 0) return;
        int size = inputs * PackedWeights.PanelWidth;
        panels.Slice((PackedWeights.PanelCount(outputs) - 1) * size, size).Clear();
    }

    /// <summary>t [k, m] = a [m, k]ᵀ (a's first m·k values), in 16 × 16 blocks so that both sides stay in a few cache lines.</summary>
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
                for (int i = i0; i < i1; i++)
                {
                    ref float row = ref Unsafe.Add(ref source, (nint)i * k);
                    for (int p = p0; p < p1; p++) Unsafe.Add(ref target, (nint)p * m + i) = Unsafe.Add(ref row, p);
                }
            }
        }
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
