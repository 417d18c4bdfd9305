using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace GruService.Engine.Training;

/// <summary>
/// The elementwise gate math of one GRU step for one sequence, forward and backward, on caller-owned spans.
/// Gate vectors are stacked r, z, n as in PyTorch. The forward functions do the same operations in the same order
/// as the inference kernel (<see cref="Kernels.GruCell"/>), so float training and inference agree bit for bit.
/// </summary>
internal static class GruCellMath
{
    /// <summary>
    /// Linear-before-reset step. <paramref name="gates"/> holds W_i x + b_i on entry and the activations r, z, n on exit;
    /// <paramref name="hiddenGates"/> = W_h h + b_h. Writes h' to <paramref name="h"/>.
    /// </summary>
    public static void ForwardLinearBeforeReset<T>(Span<T> gates, ReadOnlySpan<T> hiddenGates, ReadOnlySpan<T> hPrev, Span<T> h)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int size = h.Length;
        Span<T> rz = gates.Slice(0, 2 * size);
        TensorPrimitives.Add(hiddenGates.Slice(0, 2 * size), rz, rz);
        TensorPrimitives.Sigmoid(rz, rz);
        // n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        Span<T> n = gates.Slice(2 * size, size);
        TensorPrimitives.FusedMultiplyAdd(gates.Slice(0, size), hiddenGates.Slice(2 * size, size), n, n);
        TensorPrimitives.Tanh(n, n);
        Blend(gates.Slice(size, size), n, hPrev, h);
    }

    /// <summary>
    /// Reset-before-matmul step, first half: turns the r and z rows of <paramref name="gates"/> into activations using
    /// <paramref name="hiddenRz"/> = W_h{r,z} h + b_h{r,z}, and writes r ⊙ h, what W_hn multiplies next, to <paramref name="resetHidden"/>.
    /// </summary>
    public static void ResetGate<T>(Span<T> gates, ReadOnlySpan<T> hiddenRz, ReadOnlySpan<T> hPrev, Span<T> resetHidden)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int size = hPrev.Length;
        Span<T> rz = gates.Slice(0, 2 * size);
        TensorPrimitives.Add(hiddenRz, rz, rz);
        TensorPrimitives.Sigmoid(rz, rz);
        TensorPrimitives.Multiply(gates.Slice(0, size), hPrev, resetHidden);
    }

    /// <summary>Reset-before-matmul step, second half: <paramref name="hiddenN"/> = W_hn (r ⊙ h) + b_hn. Writes n and h'.</summary>
    public static void UpdateAfterReset<T>(Span<T> gates, ReadOnlySpan<T> hiddenN, ReadOnlySpan<T> hPrev, Span<T> h)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int size = h.Length;
        Span<T> n = gates.Slice(2 * size, size);
        TensorPrimitives.Add(hiddenN, n, n);
        TensorPrimitives.Tanh(n, n);
        Blend(gates.Slice(size, size), n, hPrev, h);
    }

    /// <summary>
    /// From dh = ∂loss/∂h', the gradients of the z and n pre-activations into the z and n rows of <paramref name="dGates"/>:
    /// h' = n + z ⊙ (h − n) gives dz = dh ⊙ (h − n) ⊙ z(1 − z) and dn = dh ⊙ (1 − z) ⊙ (1 − n²).
    /// </summary>
    /// <remarks>
    /// The backward gate math is a handful of multiplies per value but runs on every row of every step: one fused pass
    /// over the row (Vector256 where the type has it) instead of a TensorPrimitives call per operation, each of which
    /// would read and write the row again.
    /// </remarks>
    public static void UpdateAndCandidateGradients<T>(ReadOnlySpan<T> dh, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> gates, Span<T> dGates)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int size = dh.Length;
        if (hPrev.Length < size || gates.Length < 3 * size || dGates.Length < 3 * size)
            throw new ArgumentException("The gate rows are shorter than the hidden size.");
        ref T dhRef = ref MemoryMarshal.GetReference(dh), hRef = ref MemoryMarshal.GetReference(hPrev);
        ref T zRef = ref Unsafe.Add(ref MemoryMarshal.GetReference(gates), size), nRef = ref Unsafe.Add(ref zRef, size);
        ref T dzRef = ref Unsafe.Add(ref MemoryMarshal.GetReference(dGates), size), dnRef = ref Unsafe.Add(ref dzRef, size);
        int i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
            for (; i <= size - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                nuint at = (nuint)i;
                Vector256<T> g = Vector256.LoadUnsafe(ref dhRef, at), z = Vector256.LoadUnsafe(ref zRef, at), n = Vector256.LoadUnsafe(ref nRef, at);
                Vector256<T> h = Vector256.LoadUnsafe(ref hRef, at);
                ((g * (h - n)) * (z * (Vector256<T>.One - z))).StoreUnsafe(ref dzRef, at);
                ((g - g * z) * (Vector256<T>.One - n * n)).StoreUnsafe(ref dnRef, at);
            }
        for (; i < size; i++)
        {
            T g = Unsafe.Add(ref dhRef, i), z = Unsafe.Add(ref zRef, i), n = Unsafe.Add(ref nRef, i), h = Unsafe.Add(ref hRef, i);
            Unsafe.Add(ref dzRef, i) = g * (h - n) * (z * (T.One - z));
            Unsafe.Add(ref dnRef, i) = (g - g * z) * (T.One - n * n);
        }
    }

    /// <summary>
    /// Linear before reset: with the n row of <paramref name="dGates"/> already holding dn, the gradient of the r
    /// pre-activation, dr = dn ⊙ (W_hn h + b_hn) ⊙ r(1 − r), into its r row; and the gradient of the recurrent product
    /// W_h h + b_h, which feeds r and z directly and n through r ⊙ (…), into <paramref name="dHidden"/>: (dr, dz, dn ⊙ r).
    /// Adds the two rows to the bias gradients, ∂loss/∂b_i += (dr, dz, dn) and ∂loss/∂b_h += (dr, dz, dn ⊙ r), while
    /// they are in registers rather than in another pass over every step's rows.
    /// </summary>
    public static void ResetAndRecurrentGradients<T>(ReadOnlySpan<T> hiddenCandidate, ReadOnlySpan<T> gates, Span<T> dGates, Span<T> dHidden,
        Span<T> inputBiasGradient, Span<T> hiddenBiasGradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int size = hiddenCandidate.Length;
        if (gates.Length < 3 * size || dGates.Length < 3 * size || dHidden.Length < 3 * size || inputBiasGradient.Length < 3 * size || hiddenBiasGradient.Length < 3 * size)
            throw new ArgumentException("The gate rows are shorter than the hidden size.");
        ref T hnRef = ref MemoryMarshal.GetReference(hiddenCandidate), rRef = ref MemoryMarshal.GetReference(gates);
        ref T drRef = ref MemoryMarshal.GetReference(dGates), dzRef = ref Unsafe.Add(ref drRef, size), dnRef = ref Unsafe.Add(ref dzRef, size);
        ref T outR = ref MemoryMarshal.GetReference(dHidden), outZ = ref Unsafe.Add(ref outR, size), outN = ref Unsafe.Add(ref outZ, size);
        ref T biR = ref MemoryMarshal.GetReference(inputBiasGradient), biZ = ref Unsafe.Add(ref biR, size), biN = ref Unsafe.Add(ref biZ, size);
        ref T bhR = ref MemoryMarshal.GetReference(hiddenBiasGradient), bhZ = ref Unsafe.Add(ref bhR, size), bhN = ref Unsafe.Add(ref bhZ, size);
        int i = 0;
        if (Vector256.IsHardwareAccelerated && Vector256<T>.IsSupported)
            for (; i <= size - Vector256<T>.Count; i += Vector256<T>.Count)
            {
                nuint at = (nuint)i;
                Vector256<T> r = Vector256.LoadUnsafe(ref rRef, at), dn = Vector256.LoadUnsafe(ref dnRef, at), dz = Vector256.LoadUnsafe(ref dzRef, at);
                Vector256<T> dr = (dn * Vector256.LoadUnsafe(ref hnRef, at)) * (r * (Vector256<T>.One - r)), dnr = dn * r;
                dr.StoreUnsafe(ref drRef, at);
                dr.StoreUnsafe(ref outR, at);
                dz.StoreUnsafe(ref outZ, at);
                dnr.StoreUnsafe(ref outN, at);
                (Vector256.LoadUnsafe(ref biR, at) + dr).StoreUnsafe(ref biR, at);
                (Vector256.LoadUnsafe(ref biZ, at) + dz).StoreUnsafe(ref biZ, at);
                (Vector256.LoadUnsafe(ref biN, at) + dn).StoreUnsafe(ref biN, at);
                (Vector256.LoadUnsafe(ref bhR, at) + dr).StoreUnsafe(ref bhR, at);
                (Vector256.LoadUnsafe(ref bhZ, at) + dz).StoreUnsafe(ref bhZ, at);
                (Vector256.LoadUnsafe(ref bhN, at) + dnr).StoreUnsafe(ref bhN, at);
            }
        for (; i < size; i++)
        {
            T r = Unsafe.Add(ref rRef, i), dn = Unsafe.Add(ref dnRef, i), dz = Unsafe.Add(ref dzRef, i);
            T dr = dn * Unsafe.Add(ref hnRef, i) * (r * (T.One - r)), dnr = dn * r;
            Unsafe.Add(ref drRef, i) = dr;
            Unsafe.Add(ref outR, i) = dr;
            Unsafe.Add(ref outZ, i) = dz;
            Unsafe.Add(ref outN, i) = dnr;
            Unsafe.Add(ref biR, i) += dr;
            Unsafe.Add(ref biZ, i) += dz;
            Unsafe.Add(ref biN, i) += dn;
            Unsafe.Add(ref bhR, i) += dr;
            Unsafe.Add(ref bhZ, i) += dz;
            Unsafe.Add(ref bhN, i) += dnr;
        }
    }

    /// <summary>
    /// The gradient of the r pre-activation into the r row of <paramref name="dGates"/>: ∂loss/∂r = <paramref name="upstream"/> ⊙
    /// <paramref name="multiplied"/>, where r multiplies <paramref name="multiplied"/> and the product's gradient is <paramref name="upstream"/>
    /// (d(r ⊙ h) ⊙ h in the reset-before-matmul form).
    /// </summary>
    public static void ResetGradient<T>(ReadOnlySpan<T> upstream, ReadOnlySpan<T> multiplied, ReadOnlySpan<T> gates, Span<T> dGates, Span<T> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int size = upstream.Length;
        Span<T> dr = dGates.Slice(0, size);
        TensorPrimitives.Multiply(upstream, multiplied, dr);
        ScaleBySigmoidDerivative(gates.Slice(0, size), dr, scratch);
    }

    /// <summary>h' = (1 − z) ⊙ n + z ⊙ h, computed as n + z ⊙ (h − n) like the inference kernel.</summary>
    private static void Blend<T>(ReadOnlySpan<T> z, ReadOnlySpan<T> n, ReadOnlySpan<T> hPrev, Span<T> h)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        TensorPrimitives.Subtract(hPrev, n, h);
        TensorPrimitives.FusedMultiplyAdd(z, h, n, h);
    }

    /// <summary>g ⊙= s(1 − s), σ' written in terms of σ.</summary>
    private static void ScaleBySigmoidDerivative<T>(ReadOnlySpan<T> s, Span<T> g, Span<T> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> derivative = scratch.Slice(0, s.Length);
        TensorPrimitives.Subtract(T.One, s, derivative);
        TensorPrimitives.Multiply(derivative, s, derivative);
        TensorPrimitives.Multiply(g, derivative, g);
    }
}
