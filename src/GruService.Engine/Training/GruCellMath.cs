using System.Numerics;
using System.Numerics.Tensors;

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
    public static void UpdateAndCandidateGradients<T>(ReadOnlySpan<T> dh, ReadOnlySpan<T> hPrev, ReadOnlySpan<T> gates, Span<T> dGates, Span<T> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int size = dh.Length;
        ReadOnlySpan<T> z = gates.Slice(size, size), n = gates.Slice(2 * size, size);
        Span<T> dz = dGates.Slice(size, size), dn = dGates.Slice(2 * size, size);
        TensorPrimitives.Subtract(hPrev, n, dz);
        TensorPrimitives.Multiply(dz, dh, dz);
        ScaleBySigmoidDerivative(z, dz, scratch);
        TensorPrimitives.Multiply(dh, z, dn);
        TensorPrimitives.Subtract(dh, dn, dn);
        ScaleByTanhDerivative(n, dn, scratch);
    }

    /// <summary>
    /// The gradient of the r pre-activation into the r row of <paramref name="dGates"/>: ∂loss/∂r = <paramref name="upstream"/> ⊙
    /// <paramref name="multiplied"/>, where r multiplies <paramref name="multiplied"/> and the product's gradient is <paramref name="upstream"/>
    /// (dn ⊙ (W_hn h + b_hn) before reset, d(r ⊙ h) ⊙ h in the reset-before-matmul form).
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

    /// <summary>g ⊙= 1 − n², tanh' written in terms of tanh.</summary>
    private static void ScaleByTanhDerivative<T>(ReadOnlySpan<T> n, Span<T> g, Span<T> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> derivative = scratch.Slice(0, n.Length);
        TensorPrimitives.Multiply(n, n, derivative);
        TensorPrimitives.Subtract(T.One, derivative, derivative);
        TensorPrimitives.Multiply(g, derivative, g);
    }
}
