using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace GruService.Engine.Kernels;

/// <summary>A count fixed at JIT time: each struct below gets its own specialised copy of a generic kernel.</summary>
internal interface ICount
{
    static abstract int Value { get; }
}

internal struct Count1 : ICount { public static int Value => 1; }
internal struct Count2 : ICount { public static int Value => 2; }
internal struct Count3 : ICount { public static int Value => 3; }
internal struct Count4 : ICount { public static int Value => 4; }
internal struct Count5 : ICount { public static int Value => 5; }
internal struct Count6 : ICount { public static int Value => 6; }
internal struct Count7 : ICount { public static int Value => 7; }
internal struct Count8 : ICount { public static int Value => 8; }

/// <summary>
/// One instruction set's micro-kernels for <see cref="Gemm"/>. Every kernel computes each output element as the
/// same chain, acc = start; acc = fma(a[i, k], w[j, k], acc) for k ascending, kept in one lane (or one scalar): the
/// kernels differ only in how many chains they run side by side, so every kernel, tile shape and instruction set
/// produces the same bits for the same element.
/// </summary>
/// <remarks>
/// Arguments, all in elements: <c>a</c> is A[row, k0] with rows <c>aStride</c> apart; <c>panel</c> is the first
/// panel at k0, further panels <c>panelStride</c> apart; the chains start from <c>start</c> (16 values per panel,
/// consecutive panels 16 apart, rows <c>startStride</c> apart: 0 to start every row from the bias) and end in
/// <c>c</c> (same shape, rows <c>cStride</c> apart). Start and c may be the same memory.
/// </remarks>
internal interface IGemmKernels
{
    /// <summary>Rows of the register tile.</summary>
    static abstract int TileRows { get; }

    /// <summary>Panels of the register tile.</summary>
    static abstract int TilePanels { get; }

    /// <summary>Panels the single-row kernel runs side by side.</summary>
    static abstract int RowPanels { get; }

    /// <summary>A tile of fewer rows runs too few chains to hide the FMA latency: such rows go to the row kernel.</summary>
    static abstract int MinTileRows { get; }

    /// <summary>rows ≤ TileRows, panels ≤ TilePanels.</summary>
    static abstract void Tile(int rows, int panels, ref float a, nint aStride, ref float panel, nint panelStride, nint kCount,
        ref float start, nint startStride, ref float c, nint cStride);

    /// <summary>One row against panels ≤ RowPanels.</summary>
    static abstract void Row(int panels, ref float a, ref float panel, nint panelStride, nint kCount, ref float start, ref float c);
}

/// <summary>AVX2 + FMA: 6 rows × 16 columns = 12 accumulators, plus 2 weight vectors and 1 broadcast = 15 of 16 ymm.</summary>
internal readonly struct Vector256Kernels : IGemmKernels
{
    public static int TileRows => 6;
    public static int TilePanels => 1;
    public static int RowPanels => 4;
    public static int MinTileRows => 4;

    public static void Tile(int rows, int panels, ref float a, nint aStride, ref float panel, nint panelStride, nint kCount,
        ref float start, nint startStride, ref float c, nint cStride)
    {
        switch (rows)
        {
            case 6: Tile<Count6>(ref a, aStride, ref panel, kCount, ref start, startStride, ref c, cStride); break;
            case 5: Tile<Count5>(ref a, aStride, ref panel, kCount, ref start, startStride, ref c, cStride); break;
            case 4: Tile<Count4>(ref a, aStride, ref panel, kCount, ref start, startStride, ref c, cStride); break;
            case 3: Tile<Count3>(ref a, aStride, ref panel, kCount, ref start, startStride, ref c, cStride); break;
            case 2: Tile<Count2>(ref a, aStride, ref panel, kCount, ref start, startStride, ref c, cStride); break;
            default: Tile<Count1>(ref a, aStride, ref panel, kCount, ref start, startStride, ref c, cStride); break;
        }
    }

    public static void Row(int panels, ref float a, ref float panel, nint panelStride, nint kCount, ref float start, ref float c)
    {
        switch (panels)
        {
            case 4: Row<Count4>(ref a, ref panel, panelStride, kCount, ref start, ref c); break;
            case 3: Row<Count3>(ref a, ref panel, panelStride, kCount, ref start, ref c); break;
            case 2: Row<Count2>(ref a, ref panel, panelStride, kCount, ref start, ref c); break;
            default: Row<Count1>(ref a, ref panel, panelStride, kCount, ref start, ref c); break;
        }
    }

    // Fully optimised from the first call: at tier 0 the generic counts are not folded and a kernel runs ~30× slower.
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TRows>(ref float a, nint aStride, ref float panel, nint kCount,
        ref float start, nint startStride, ref float c, nint cStride) where TRows : struct, ICount
    {
        int rows = TRows.Value;
        // Unused rows alias row 0 (never read): the JIT removes every statement guarded by rows > r.
        ref float a1 = ref rows > 1 ? ref Unsafe.Add(ref a, aStride) : ref a;
        ref float a2 = ref rows > 2 ? ref Unsafe.Add(ref a, 2 * aStride) : ref a;
        ref float a3 = ref rows > 3 ? ref Unsafe.Add(ref a, 3 * aStride) : ref a;
        ref float a4 = ref rows > 4 ? ref Unsafe.Add(ref a, 4 * aStride) : ref a;
        ref float a5 = ref rows > 5 ? ref Unsafe.Add(ref a, 5 * aStride) : ref a;

        Vector256<float> c00 = Vector256.LoadUnsafe(ref start), c01 = Vector256.LoadUnsafe(ref start, 8);
        Vector256<float> c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        if (rows > 1) { c10 = Vector256.LoadUnsafe(ref start, (nuint)startStride); c11 = Vector256.LoadUnsafe(ref start, (nuint)startStride + 8); }
        if (rows > 2) { c20 = Vector256.LoadUnsafe(ref start, (nuint)(2 * startStride)); c21 = Vector256.LoadUnsafe(ref start, (nuint)(2 * startStride) + 8); }
        if (rows > 3) { c30 = Vector256.LoadUnsafe(ref start, (nuint)(3 * startStride)); c31 = Vector256.LoadUnsafe(ref start, (nuint)(3 * startStride) + 8); }
        if (rows > 4) { c40 = Vector256.LoadUnsafe(ref start, (nuint)(4 * startStride)); c41 = Vector256.LoadUnsafe(ref start, (nuint)(4 * startStride) + 8); }
        if (rows > 5) { c50 = Vector256.LoadUnsafe(ref start, (nuint)(5 * startStride)); c51 = Vector256.LoadUnsafe(ref start, (nuint)(5 * startStride) + 8); }

        ref float w = ref panel;
        for (nint p = 0; p < kCount; p++)
        {
            Vector256<float> w0 = Vector256.LoadUnsafe(ref w), w1 = Vector256.LoadUnsafe(ref w, 8);
            Vector256<float> x = Vector256.Create(Unsafe.Add(ref a, p));
            c00 = Vector256.FusedMultiplyAdd(x, w0, c00);
            c01 = Vector256.FusedMultiplyAdd(x, w1, c01);
            if (rows > 1)
            {
                x = Vector256.Create(Unsafe.Add(ref a1, p));
                c10 = Vector256.FusedMultiplyAdd(x, w0, c10);
                c11 = Vector256.FusedMultiplyAdd(x, w1, c11);
            }
            if (rows > 2)
            {
                x = Vector256.Create(Unsafe.Add(ref a2, p));
                c20 = Vector256.FusedMultiplyAdd(x, w0, c20);
                c21 = Vector256.FusedMultiplyAdd(x, w1, c21);
            }
            if (rows > 3)
            {
                x = Vector256.Create(Unsafe.Add(ref a3, p));
                c30 = Vector256.FusedMultiplyAdd(x, w0, c30);
                c31 = Vector256.FusedMultiplyAdd(x, w1, c31);
            }
            if (rows > 4)
            {
                x = Vector256.Create(Unsafe.Add(ref a4, p));
                c40 = Vector256.FusedMultiplyAdd(x, w0, c40);
                c41 = Vector256.FusedMultiplyAdd(x, w1, c41);
            }
            if (rows > 5)
            {
                x = Vector256.Create(Unsafe.Add(ref a5, p));
                c50 = Vector256.FusedMultiplyAdd(x, w0, c50);
                c51 = Vector256.FusedMultiplyAdd(x, w1, c51);
            }
            w = ref Unsafe.Add(ref w, PackedWeights.PanelWidth);
        }

        c00.StoreUnsafe(ref c); c01.StoreUnsafe(ref c, 8);
        if (rows > 1) { c10.StoreUnsafe(ref c, (nuint)cStride); c11.StoreUnsafe(ref c, (nuint)cStride + 8); }
        if (rows > 2) { c20.StoreUnsafe(ref c, (nuint)(2 * cStride)); c21.StoreUnsafe(ref c, (nuint)(2 * cStride) + 8); }
        if (rows > 3) { c30.StoreUnsafe(ref c, (nuint)(3 * cStride)); c31.StoreUnsafe(ref c, (nuint)(3 * cStride) + 8); }
        if (rows > 4) { c40.StoreUnsafe(ref c, (nuint)(4 * cStride)); c41.StoreUnsafe(ref c, (nuint)(4 * cStride) + 8); }
        if (rows > 5) { c50.StoreUnsafe(ref c, (nuint)(5 * cStride)); c51.StoreUnsafe(ref c, (nuint)(5 * cStride) + 8); }
    }

    /// <summary>
    /// One row against up to 4 panels: 8 independent chains, enough to keep both FMA pipes busy through the
    /// 4-cycle latency, where a 1-row tile would run only 2.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row<TPanels>(ref float a, ref float panel, nint panelStride, nint kCount, ref float start, ref float c)
        where TPanels : struct, ICount
    {
        int panels = TPanels.Value;
        ref float w0 = ref panel;
        ref float w1 = ref panels > 1 ? ref Unsafe.Add(ref panel, panelStride) : ref panel;
        ref float w2 = ref panels > 2 ? ref Unsafe.Add(ref panel, 2 * panelStride) : ref panel;
        ref float w3 = ref panels > 3 ? ref Unsafe.Add(ref panel, 3 * panelStride) : ref panel;

        Vector256<float> c00 = Vector256.LoadUnsafe(ref start), c01 = Vector256.LoadUnsafe(ref start, 8);
        Vector256<float> c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        if (panels > 1) { c10 = Vector256.LoadUnsafe(ref start, 16); c11 = Vector256.LoadUnsafe(ref start, 24); }
        if (panels > 2) { c20 = Vector256.LoadUnsafe(ref start, 32); c21 = Vector256.LoadUnsafe(ref start, 40); }
        if (panels > 3) { c30 = Vector256.LoadUnsafe(ref start, 48); c31 = Vector256.LoadUnsafe(ref start, 56); }

        for (nint p = 0; p < kCount; p++)
        {
            Vector256<float> x = Vector256.Create(Unsafe.Add(ref a, p));
            nuint at = (nuint)(p * PackedWeights.PanelWidth);
            c00 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref w0, at), c00);
            c01 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref w0, at + 8), c01);
            if (panels > 1)
            {
                c10 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref w1, at), c10);
                c11 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref w1, at + 8), c11);
            }
            if (panels > 2)
            {
                c20 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref w2, at), c20);
                c21 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref w2, at + 8), c21);
            }
            if (panels > 3)
            {
                c30 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref w3, at), c30);
                c31 = Vector256.FusedMultiplyAdd(x, Vector256.LoadUnsafe(ref w3, at + 8), c31);
            }
        }

        c00.StoreUnsafe(ref c); c01.StoreUnsafe(ref c, 8);
        if (panels > 1) { c10.StoreUnsafe(ref c, 16); c11.StoreUnsafe(ref c, 24); }
        if (panels > 2) { c20.StoreUnsafe(ref c, 32); c21.StoreUnsafe(ref c, 40); }
        if (panels > 3) { c30.StoreUnsafe(ref c, 48); c31.StoreUnsafe(ref c, 56); }
    }
}

/// <summary>
/// AVX-512: a panel is one zmm. 8 rows × 2 panels = 16 accumulators of the 32 registers, 2 weight loads and 8
/// broadcasts per 16 FMAs. Not measured here (the development machine has no AVX-512): the shape follows the
/// AVX2 kernel's reasoning with twice the registers. Where Vector512 is not accelerated .NET runs it as two
/// Vector256 halves, which is how the tests exercise it.
/// </summary>
internal readonly struct Vector512Kernels : IGemmKernels
{
    public static int TileRows => 8;
    public static int TilePanels => 2;
    public static int RowPanels => 8;
    public static int MinTileRows => 4;

    public static void Tile(int rows, int panels, ref float a, nint aStride, ref float panel, nint panelStride, nint kCount,
        ref float start, nint startStride, ref float c, nint cStride)
    {
        if (panels == 2)
        {
            switch (rows)
            {
                case 8: Tile<Count8, Count2>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
                case 7: Tile<Count7, Count2>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
                case 6: Tile<Count6, Count2>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
                case 5: Tile<Count5, Count2>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
                case 4: Tile<Count4, Count2>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
                case 3: Tile<Count3, Count2>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
                case 2: Tile<Count2, Count2>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
                default: Tile<Count1, Count2>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
            }
        }
        else
        {
            switch (rows)
            {
                case 8: Tile<Count8, Count1>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
                case 7: Tile<Count7, Count1>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
                case 6: Tile<Count6, Count1>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
                case 5: Tile<Count5, Count1>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
                case 4: Tile<Count4, Count1>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
                case 3: Tile<Count3, Count1>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
                case 2: Tile<Count2, Count1>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
                default: Tile<Count1, Count1>(ref a, aStride, ref panel, panelStride, kCount, ref start, startStride, ref c, cStride); break;
            }
        }
    }

    public static void Row(int panels, ref float a, ref float panel, nint panelStride, nint kCount, ref float start, ref float c)
    {
        switch (panels)
        {
            case 8: Row<Count8>(ref a, ref panel, panelStride, kCount, ref start, ref c); break;
            case 7: Row<Count7>(ref a, ref panel, panelStride, kCount, ref start, ref c); break;
            case 6: Row<Count6>(ref a, ref panel, panelStride, kCount, ref start, ref c); break;
            case 5: Row<Count5>(ref a, ref panel, panelStride, kCount, ref start, ref c); break;
            case 4: Row<Count4>(ref a, ref panel, panelStride, kCount, ref start, ref c); break;
            case 3: Row<Count3>(ref a, ref panel, panelStride, kCount, ref start, ref c); break;
            case 2: Row<Count2>(ref a, ref panel, panelStride, kCount, ref start, ref c); break;
            default: Row<Count1>(ref a, ref panel, panelStride, kCount, ref start, ref c); break;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Tile<TRows, TPanels>(ref float a, nint aStride, ref float panel, nint panelStride, nint kCount,
        ref float start, nint startStride, ref float c, nint cStride) where TRows : struct, ICount where TPanels : struct, ICount
    {
        int rows = TRows.Value;
        bool two = TPanels.Value > 1;
        ref float a1 = ref rows > 1 ? ref Unsafe.Add(ref a, aStride) : ref a;
        ref float a2 = ref rows > 2 ? ref Unsafe.Add(ref a, 2 * aStride) : ref a;
        ref float a3 = ref rows > 3 ? ref Unsafe.Add(ref a, 3 * aStride) : ref a;
        ref float a4 = ref rows > 4 ? ref Unsafe.Add(ref a, 4 * aStride) : ref a;
        ref float a5 = ref rows > 5 ? ref Unsafe.Add(ref a, 5 * aStride) : ref a;
        ref float a6 = ref rows > 6 ? ref Unsafe.Add(ref a, 6 * aStride) : ref a;
        ref float a7 = ref rows > 7 ? ref Unsafe.Add(ref a, 7 * aStride) : ref a;
        ref float wb = ref two ? ref Unsafe.Add(ref panel, panelStride) : ref panel;

        Vector512<float> c00 = Vector512.LoadUnsafe(ref start), c01 = default;
        Vector512<float> c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default;
        Vector512<float> c70 = default, c71 = default;
        if (two) c01 = Vector512.LoadUnsafe(ref start, 16);
        if (rows > 1) { c10 = Load(ref start, startStride, 0); if (two) c11 = Load(ref start, startStride, 16); }
        if (rows > 2) { c20 = Load(ref start, 2 * startStride, 0); if (two) c21 = Load(ref start, 2 * startStride, 16); }
        if (rows > 3) { c30 = Load(ref start, 3 * startStride, 0); if (two) c31 = Load(ref start, 3 * startStride, 16); }
        if (rows > 4) { c40 = Load(ref start, 4 * startStride, 0); if (two) c41 = Load(ref start, 4 * startStride, 16); }
        if (rows > 5) { c50 = Load(ref start, 5 * startStride, 0); if (two) c51 = Load(ref start, 5 * startStride, 16); }
        if (rows > 6) { c60 = Load(ref start, 6 * startStride, 0); if (two) c61 = Load(ref start, 6 * startStride, 16); }
        if (rows > 7) { c70 = Load(ref start, 7 * startStride, 0); if (two) c71 = Load(ref start, 7 * startStride, 16); }

        for (nint p = 0; p < kCount; p++)
        {
            nuint at = (nuint)(p * PackedWeights.PanelWidth);
            Vector512<float> w0 = Vector512.LoadUnsafe(ref panel, at), w1 = two ? Vector512.LoadUnsafe(ref wb, at) : default;
            Vector512<float> x = Vector512.Create(Unsafe.Add(ref a, p));
            c00 = Vector512.FusedMultiplyAdd(x, w0, c00);
            if (two) c01 = Vector512.FusedMultiplyAdd(x, w1, c01);
            if (rows > 1) { x = Vector512.Create(Unsafe.Add(ref a1, p)); c10 = Vector512.FusedMultiplyAdd(x, w0, c10); if (two) c11 = Vector512.FusedMultiplyAdd(x, w1, c11); }
            if (rows > 2) { x = Vector512.Create(Unsafe.Add(ref a2, p)); c20 = Vector512.FusedMultiplyAdd(x, w0, c20); if (two) c21 = Vector512.FusedMultiplyAdd(x, w1, c21); }
            if (rows > 3) { x = Vector512.Create(Unsafe.Add(ref a3, p)); c30 = Vector512.FusedMultiplyAdd(x, w0, c30); if (two) c31 = Vector512.FusedMultiplyAdd(x, w1, c31); }
            if (rows > 4) { x = Vector512.Create(Unsafe.Add(ref a4, p)); c40 = Vector512.FusedMultiplyAdd(x, w0, c40); if (two) c41 = Vector512.FusedMultiplyAdd(x, w1, c41); }
            if (rows > 5) { x = Vector512.Create(Unsafe.Add(ref a5, p)); c50 = Vector512.FusedMultiplyAdd(x, w0, c50); if (two) c51 = Vector512.FusedMultiplyAdd(x, w1, c51); }
            if (rows > 6) { x = Vector512.Create(Unsafe.Add(ref a6, p)); c60 = Vector512.FusedMultiplyAdd(x, w0, c60); if (two) c61 = Vector512.FusedMultiplyAdd(x, w1, c61); }
            if (rows > 7) { x = Vector512.Create(Unsafe.Add(ref a7, p)); c70 = Vector512.FusedMultiplyAdd(x, w0, c70); if (two) c71 = Vector512.FusedMultiplyAdd(x, w1, c71); }
        }

        c00.StoreUnsafe(ref c);
        if (two) c01.StoreUnsafe(ref c, 16);
        if (rows > 1) { Store(c10, ref c, cStride, 0); if (two) Store(c11, ref c, cStride, 16); }
        if (rows > 2) { Store(c20, ref c, 2 * cStride, 0); if (two) Store(c21, ref c, 2 * cStride, 16); }
        if (rows > 3) { Store(c30, ref c, 3 * cStride, 0); if (two) Store(c31, ref c, 3 * cStride, 16); }
        if (rows > 4) { Store(c40, ref c, 4 * cStride, 0); if (two) Store(c41, ref c, 4 * cStride, 16); }
        if (rows > 5) { Store(c50, ref c, 5 * cStride, 0); if (two) Store(c51, ref c, 5 * cStride, 16); }
        if (rows > 6) { Store(c60, ref c, 6 * cStride, 0); if (two) Store(c61, ref c, 6 * cStride, 16); }
        if (rows > 7) { Store(c70, ref c, 7 * cStride, 0); if (two) Store(c71, ref c, 7 * cStride, 16); }
    }

    /// <summary>One row against up to 8 panels: 8 chains in flight, as many as two FMA pipes of latency 4 need.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Row<TPanels>(ref float a, ref float panel, nint panelStride, nint kCount, ref float start, ref float c)
        where TPanels : struct, ICount
    {
        int panels = TPanels.Value;
        ref float w1 = ref panels > 1 ? ref Unsafe.Add(ref panel, panelStride) : ref panel;
        ref float w2 = ref panels > 2 ? ref Unsafe.Add(ref panel, 2 * panelStride) : ref panel;
        ref float w3 = ref panels > 3 ? ref Unsafe.Add(ref panel, 3 * panelStride) : ref panel;
        ref float w4 = ref panels > 4 ? ref Unsafe.Add(ref panel, 4 * panelStride) : ref panel;
        ref float w5 = ref panels > 5 ? ref Unsafe.Add(ref panel, 5 * panelStride) : ref panel;
        ref float w6 = ref panels > 6 ? ref Unsafe.Add(ref panel, 6 * panelStride) : ref panel;
        ref float w7 = ref panels > 7 ? ref Unsafe.Add(ref panel, 7 * panelStride) : ref panel;

        Vector512<float> c0 = Vector512.LoadUnsafe(ref start), c1 = default, c2 = default, c3 = default;
        Vector512<float> c4 = default, c5 = default, c6 = default, c7 = default;
        if (panels > 1) c1 = Vector512.LoadUnsafe(ref start, 16);
        if (panels > 2) c2 = Vector512.LoadUnsafe(ref start, 32);
        if (panels > 3) c3 = Vector512.LoadUnsafe(ref start, 48);
        if (panels > 4) c4 = Vector512.LoadUnsafe(ref start, 64);
        if (panels > 5) c5 = Vector512.LoadUnsafe(ref start, 80);
        if (panels > 6) c6 = Vector512.LoadUnsafe(ref start, 96);
        if (panels > 7) c7 = Vector512.LoadUnsafe(ref start, 112);

        for (nint p = 0; p < kCount; p++)
        {
            Vector512<float> x = Vector512.Create(Unsafe.Add(ref a, p));
            nuint at = (nuint)(p * PackedWeights.PanelWidth);
            c0 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref panel, at), c0);
            if (panels > 1) c1 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref w1, at), c1);
            if (panels > 2) c2 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref w2, at), c2);
            if (panels > 3) c3 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref w3, at), c3);
            if (panels > 4) c4 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref w4, at), c4);
            if (panels > 5) c5 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref w5, at), c5);
            if (panels > 6) c6 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref w6, at), c6);
            if (panels > 7) c7 = Vector512.FusedMultiplyAdd(x, Vector512.LoadUnsafe(ref w7, at), c7);
        }

        c0.StoreUnsafe(ref c);
        if (panels > 1) c1.StoreUnsafe(ref c, 16);
        if (panels > 2) c2.StoreUnsafe(ref c, 32);
        if (panels > 3) c3.StoreUnsafe(ref c, 48);
        if (panels > 4) c4.StoreUnsafe(ref c, 64);
        if (panels > 5) c5.StoreUnsafe(ref c, 80);
        if (panels > 6) c6.StoreUnsafe(ref c, 96);
        if (panels > 7) c7.StoreUnsafe(ref c, 112);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Load(ref float source, nint row, nint column) => Vector512.LoadUnsafe(ref source, (nuint)(row + column));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store(Vector512<float> value, ref float destination, nint row, nint column) => value.StoreUnsafe(ref destination, (nuint)(row + column));
}

/// <summary>
/// No SIMD: the same chains one float at a time with <see cref="MathF.FusedMultiplyAdd"/>, so its results are the
/// vector kernels' bit for bit. Sixteen chains per row keep a scalar FMA unit busy despite its latency.
/// </summary>
internal readonly struct ScalarKernels : IGemmKernels
{
    public static int TileRows => 1;
    public static int TilePanels => 1;
    public static int RowPanels => 1;
    public static int MinTileRows => 1;

    public static void Tile(int rows, int panels, ref float a, nint aStride, ref float panel, nint panelStride, nint kCount,
        ref float start, nint startStride, ref float c, nint cStride)
    {
        for (int r = 0; r < rows; r++)
            for (int q = 0; q < panels; q++)
                Chains16(ref Unsafe.Add(ref a, r * aStride), ref Unsafe.Add(ref panel, q * panelStride), kCount,
                    ref Unsafe.Add(ref start, r * startStride + q * PackedWeights.PanelWidth),
                    ref Unsafe.Add(ref c, r * cStride + q * PackedWeights.PanelWidth));
    }

    public static void Row(int panels, ref float a, ref float panel, nint panelStride, nint kCount, ref float start, ref float c)
    {
        for (int q = 0; q < panels; q++)
            Chains16(ref a, ref Unsafe.Add(ref panel, q * panelStride), kCount,
                ref Unsafe.Add(ref start, q * PackedWeights.PanelWidth), ref Unsafe.Add(ref c, q * PackedWeights.PanelWidth));
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Chains16(ref float a, ref float panel, nint kCount, ref float start, ref float c)
    {
        Span<float> acc = stackalloc float[PackedWeights.PanelWidth];
        for (int j = 0; j < acc.Length; j++) acc[j] = Unsafe.Add(ref start, j);
        ref float w = ref panel;
        for (nint p = 0; p < kCount; p++)
        {
            float x = Unsafe.Add(ref a, p);
            for (int j = 0; j < acc.Length; j++)
                acc[j] = MathF.FusedMultiplyAdd(x, Unsafe.Add(ref w, j), acc[j]);
            w = ref Unsafe.Add(ref w, PackedWeights.PanelWidth);
        }
        for (int j = 0; j < acc.Length; j++) Unsafe.Add(ref c, j) = acc[j];
    }
}
