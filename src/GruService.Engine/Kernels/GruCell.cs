using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace GruService.Engine.Kernels;

/// <summary>
/// The gate math of one GRU step for one sequence, applied after the input and recurrent products.
/// Works in place on caller-owned spans: nothing is allocated.
/// </summary>
/// <remarks>
/// Each form computes 8 lanes at a time, fused, with the activations in registers
/// (<see cref="GateMath"/>): one call per row instead of six TensorPrimitives calls, each a pass over memory with
/// .NET's exp (which widens to double). Measured in the load test's pass (hidden 64, 50 steps) it took the gate math from
/// a third of the engine's time to a tenth. A row's last size mod 8 lanes go through 8-lane copies, so every element is
/// computed by the same instructions wherever it sits: a sequence's answer stays bit-identical batched or alone.
/// </remarks>
public static class GruCell
{
    private const int Lanes = 8;

    // The PyTorch form runs in two passes over up to this many lanes: the reset and update gates, then tanh and the new
    // state. One pass per 8 lanes chained a sigmoid and a tanh, a dependency chain too long for the core to overlap
    // much of the next lanes' work with; two shorter ones let it. Hidden size 64, one call: 265 → 205–233 ns.
    private const int ChunkLanes = 64;

    /// <summary>
    /// PyTorch form. <paramref name="inputGates"/> = W_i x + b_i and <paramref name="hiddenGates"/> = W_h h + b_h,
    /// both [3H] stacked r, z, n. Updates <paramref name="h"/> to h'.
    /// </summary>
    public static void StepLinearBeforeReset(ReadOnlySpan<float> inputGates, ReadOnlySpan<float> hiddenGates, Span<float> h)
    {
        int size = h.Length;
        ArgumentOutOfRangeException.ThrowIfLessThan(inputGates.Length, 3 * size, nameof(inputGates));
        ArgumentOutOfRangeException.ThrowIfLessThan(hiddenGates.Length, 3 * size, nameof(hiddenGates));
        // z and W_in x + r ⊙ (W_hn h + b_hn) of a chunk of lanes, between the two passes.
        Span<float> update = stackalloc float[ChunkLanes], candidate = stackalloc float[ChunkLanes];
        int full = size & ~(Lanes - 1);
        for (int start = 0; start < full; start += ChunkLanes)
        {
            int end = Math.Min(start + ChunkLanes, full);
            for (int i = start; i < end; i += Lanes)
                ResetAndUpdateGates(ref Element(inputGates, i), ref Element(hiddenGates, i), ref update[i - start], ref candidate[i - start], size);
            for (int i = start; i < end; i += Lanes)
                NewHidden(ref candidate[i - start], ref update[i - start], ref Element(h, i));
        }
        if (full == size) return;

        int rest = size - full;
        Span<float> gi = stackalloc float[3 * Lanes], gh = stackalloc float[3 * Lanes], state = stackalloc float[Lanes];
        for (int gate = 0; gate < 3; gate++)
        {
            inputGates.Slice(gate * size + full, rest).CopyTo(gi.Slice(gate * Lanes));
            hiddenGates.Slice(gate * size + full, rest).CopyTo(gh.Slice(gate * Lanes));
        }
        h.Slice(full).CopyTo(state);
        ResetAndUpdateGates(ref Element(gi, 0), ref Element(gh, 0), ref update[0], ref candidate[0], Lanes);
        NewHidden(ref candidate[0], ref update[0], ref Element(state, 0));
        state.Slice(0, rest).CopyTo(h.Slice(full));
    }

    /// <summary>
    /// Reset-before-matmul form, first half: from the r and z rows of the recurrent product
    /// (<paramref name="hiddenRz"/> = W_hr h + b_hr, W_hz h + b_hz) compute r and z in place and write r ⊙ h
    /// into <paramref name="resetHidden"/>, the vector the n row of W_hh multiplies next.
    /// </summary>
    public static void ResetGate(ReadOnlySpan<float> inputGates, Span<float> hiddenRz, ReadOnlySpan<float> h, Span<float> resetHidden)
    {
        int size = h.Length;
        ArgumentOutOfRangeException.ThrowIfLessThan(inputGates.Length, 2 * size, nameof(inputGates));
        ArgumentOutOfRangeException.ThrowIfLessThan(hiddenRz.Length, 2 * size, nameof(hiddenRz));
        ArgumentOutOfRangeException.ThrowIfLessThan(resetHidden.Length, size, nameof(resetHidden));
        int full = size & ~(Lanes - 1);
        for (int i = 0; i < full; i += Lanes)
            ResetGate(ref Element(inputGates, i), ref Element(hiddenRz, i), ref Element(h, i), ref Element(resetHidden, i), size);
        if (full == size) return;

        int rest = size - full;
        Span<float> gi = stackalloc float[2 * Lanes], rz = stackalloc float[2 * Lanes], state = stackalloc float[Lanes], reset = stackalloc float[Lanes];
        for (int gate = 0; gate < 2; gate++)
        {
            inputGates.Slice(gate * size + full, rest).CopyTo(gi.Slice(gate * Lanes));
            hiddenRz.Slice(gate * size + full, rest).CopyTo(rz.Slice(gate * Lanes));
        }
        h.Slice(full).CopyTo(state);
        ResetGate(ref Element(gi, 0), ref Element(rz, 0), ref Element(state, 0), ref Element(reset, 0), Lanes);
        for (int gate = 0; gate < 2; gate++)
            rz.Slice(gate * Lanes, rest).CopyTo(hiddenRz.Slice(gate * size + full));
        reset.Slice(0, rest).CopyTo(resetHidden.Slice(full));
    }

    /// <summary>
    /// Reset-before-matmul form, second half: <paramref name="hiddenN"/> = W_hn (r ⊙ h) + b_hn.
    /// Updates <paramref name="h"/> to h'.
    /// </summary>
    public static void UpdateAfterReset(ReadOnlySpan<float> inputGates, ReadOnlySpan<float> z, ReadOnlySpan<float> hiddenN, Span<float> h)
    {
        int size = h.Length;
        ArgumentOutOfRangeException.ThrowIfLessThan(inputGates.Length, 3 * size, nameof(inputGates));
        ArgumentOutOfRangeException.ThrowIfLessThan(z.Length, size, nameof(z));
        ArgumentOutOfRangeException.ThrowIfLessThan(hiddenN.Length, size, nameof(hiddenN));
        int full = size & ~(Lanes - 1);
        for (int i = 0; i < full; i += Lanes)
            UpdateAfterReset(ref Element(inputGates, 2 * size + i), ref Element(z, i), ref Element(hiddenN, i), ref Element(h, i));
        if (full == size) return;

        int rest = size - full;
        Span<float> gi = stackalloc float[Lanes], zs = stackalloc float[Lanes], n = stackalloc float[Lanes], state = stackalloc float[Lanes];
        inputGates.Slice(2 * size + full, rest).CopyTo(gi);
        z.Slice(full, rest).CopyTo(zs);
        hiddenN.Slice(full, rest).CopyTo(n);
        h.Slice(full).CopyTo(state);
        UpdateAfterReset(ref Element(gi, 0), ref Element(zs, 0), ref Element(n, 0), ref Element(state, 0));
        state.Slice(0, rest).CopyTo(h.Slice(full));
    }

    // 8 lanes of each form; gates are `size` apart. Sums and products in the order the unfused code used:
    // hidden + input for r and z (and for n in the reset-before form), fma(r, W_hn h + b_hn, input n), h' = fma(z, h − n, n).

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ResetAndUpdateGates(ref float gi, ref float gh, ref float update, ref float candidate, int size)
    {
        nuint z = (nuint)size, n = 2 * (nuint)size;
        Vector256<float> reset = GateMath.Sigmoid(Vector256.LoadUnsafe(ref gh) + Vector256.LoadUnsafe(ref gi));
        GateMath.Sigmoid(Vector256.LoadUnsafe(ref gh, z) + Vector256.LoadUnsafe(ref gi, z)).StoreUnsafe(ref update);
        Vector256.FusedMultiplyAdd(reset, Vector256.LoadUnsafe(ref gh, n), Vector256.LoadUnsafe(ref gi, n)).StoreUnsafe(ref candidate);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void NewHidden(ref float candidate, ref float update, ref float h)
    {
        Vector256<float> n = GateMath.Tanh(Vector256.LoadUnsafe(ref candidate));
        Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref update), Vector256.LoadUnsafe(ref h) - n, n).StoreUnsafe(ref h);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ResetGate(ref float gi, ref float rz, ref float h, ref float resetHidden, int size)
    {
        nuint z = (nuint)size;
        Vector256<float> reset = GateMath.Sigmoid(Vector256.LoadUnsafe(ref rz) + Vector256.LoadUnsafe(ref gi));
        GateMath.Sigmoid(Vector256.LoadUnsafe(ref rz, z) + Vector256.LoadUnsafe(ref gi, z)).StoreUnsafe(ref rz, z);
        reset.StoreUnsafe(ref rz);
        (reset * Vector256.LoadUnsafe(ref h)).StoreUnsafe(ref resetHidden);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void UpdateAfterReset(ref float giN, ref float z, ref float hiddenN, ref float h)
    {
        Vector256<float> candidate = GateMath.Tanh(Vector256.LoadUnsafe(ref hiddenN) + Vector256.LoadUnsafe(ref giN));
        Vector256.FusedMultiplyAdd(Vector256.LoadUnsafe(ref z), Vector256.LoadUnsafe(ref h) - candidate, candidate).StoreUnsafe(ref h);
    }

    private static ref float Element(ReadOnlySpan<float> span, int index) =>
        ref Unsafe.Add(ref MemoryMarshal.GetReference(span), index);
}

/// <summary>
/// exp, the logistic sigmoid and tanh on 8 floats, in registers, to within a few units in the last place (tests:
/// <c>GruCellTests</c>, against double precision). Polynomials from Cephes' expf and tanhf (S. L. Moshier); NaN in,
/// NaN out, so a non-finite input still shows in the answer.
/// </summary>
internal static class GateMath
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Exp(Vector256<float> x)
    {
        // e^x = 2^k e^r with k = round(x / ln 2) and |r| ≤ ln 2 / 2. Clamped so that 2^k stays a normal float
        // (k in [−126, 127]): e^88 ≈ 1.7e38, e^−87.3 ≈ 1.2e−38. The native min and max (one instruction each, where
        // the IEEE ones take several) return their second operand when either is NaN, so x goes second: NaN stays NaN.
        x = Vector256.MinNative(Vector256.Create(88.0f), Vector256.MaxNative(Vector256.Create(-87.3f), x));
        Vector256<float> k = Vector256.Round(x * Vector256.Create(1.44269504088896341f));
        // ln 2 in two parts (Cody and Waite), the first with few enough bits that k × it is exact.
        Vector256<float> r = Vector256.FusedMultiplyAdd(k, Vector256.Create(-0.693359375f), x);
        r = Vector256.FusedMultiplyAdd(k, Vector256.Create(2.12194440e-4f), r);
        Vector256<float> p = Vector256.Create(1.9875691500e-4f);
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Vector256.FusedMultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        p = Vector256.FusedMultiplyAdd(p, r * r, r) + Vector256<float>.One;
        // k is a whole number in [−126, 127] (or NaN, which p carries through), so the unsaturated conversion is exact.
        Vector256<int> exponent = (Vector256.ConvertToInt32Native(k) + Vector256.Create(127)) << 23;
        return p * exponent.AsSingle();
    }

    /// <summary>1 / (1 + e^−x).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Sigmoid(Vector256<float> x) =>
        Vector256<float>.One / (Vector256<float>.One + Exp(-x));

    /// <summary>
    /// An odd polynomial below |x| = 0.625, where 1 − 2 / (e^2|x| + 1) would lose digits to cancellation; that form,
    /// with x's sign, above.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Tanh(Vector256<float> x)
    {
        Vector256<float> magnitude = Vector256.Abs(x);
        Vector256<float> large = Vector256<float>.One - Vector256.Create(2f) / (Exp(magnitude + magnitude) + Vector256<float>.One);
        large = Vector256.ConditionalSelect(Vector256.Create(-0f), x, large);

        Vector256<float> square = x * x;
        Vector256<float> p = Vector256.Create(-5.70498872745e-3f);
        p = Vector256.FusedMultiplyAdd(p, square, Vector256.Create(2.06390887954e-2f));
        p = Vector256.FusedMultiplyAdd(p, square, Vector256.Create(-5.37397155531e-2f));
        p = Vector256.FusedMultiplyAdd(p, square, Vector256.Create(1.33314422036e-1f));
        p = Vector256.FusedMultiplyAdd(p, square, Vector256.Create(-3.33332819422e-1f));
        Vector256<float> small = Vector256.FusedMultiplyAdd(p * square, x, x);

        return Vector256.ConditionalSelect(Vector256.LessThan(magnitude, Vector256.Create(0.625f)), small, large);
    }
}
