using System.Numerics.Tensors;

namespace GruService.Engine.Kernels;

/// <summary>
/// The gate math of one GRU step for one sequence, applied after the input and recurrent products.
/// Works in place on caller-owned spans: nothing is allocated.
/// </summary>
public static class GruCell
{
    /// <summary>
    /// PyTorch form. <paramref name="inputGates"/> = W_i x + b_i and <paramref name="hiddenGates"/> = W_h h + b_h,
    /// both [3H] stacked r, z, n. Overwrites <paramref name="hiddenGates"/> and updates <paramref name="h"/> to h'.
    /// </summary>
    public static void StepLinearBeforeReset(ReadOnlySpan<float> inputGates, Span<float> hiddenGates, Span<float> h)
    {
        int size = h.Length;
        Span<float> rz = hiddenGates.Slice(0, 2 * size);
        TensorPrimitives.Add(rz, inputGates.Slice(0, 2 * size), rz);
        TensorPrimitives.Sigmoid(rz, rz);
        Span<float> r = hiddenGates.Slice(0, size);
        ReadOnlySpan<float> z = hiddenGates.Slice(size, size);
        Span<float> n = hiddenGates.Slice(2 * size, size);
        // n = tanh(W_in x + b_in + r ⊙ (W_hn h + b_hn))
        TensorPrimitives.FusedMultiplyAdd(r, n, inputGates.Slice(2 * size, size), n);
        TensorPrimitives.Tanh(n, n);
        Blend(z, n, h, r);
    }

    /// <summary>
    /// Reset-before-matmul form, first half: from the r and z rows of the recurrent product
    /// (<paramref name="hiddenRz"/> = W_hr h + b_hr, W_hz h + b_hz) compute r and z in place and write r ⊙ h
    /// into <paramref name="resetHidden"/>, the vector the n row of W_hh multiplies next.
    /// </summary>
    public static void ResetGate(ReadOnlySpan<float> inputGates, Span<float> hiddenRz, ReadOnlySpan<float> h, Span<float> resetHidden)
    {
        int size = h.Length;
        TensorPrimitives.Add(hiddenRz, inputGates.Slice(0, 2 * size), hiddenRz);
        TensorPrimitives.Sigmoid(hiddenRz, hiddenRz);
        TensorPrimitives.Multiply(hiddenRz.Slice(0, size), h, resetHidden);
    }

    /// <summary>
    /// Reset-before-matmul form, second half: <paramref name="hiddenN"/> = W_hn (r ⊙ h) + b_hn.
    /// Overwrites <paramref name="hiddenN"/> and <paramref name="scratch"/>, updates <paramref name="h"/> to h'.
    /// </summary>
    public static void UpdateAfterReset(ReadOnlySpan<float> inputGates, ReadOnlySpan<float> z, Span<float> hiddenN, Span<float> h, Span<float> scratch)
    {
        int size = h.Length;
        TensorPrimitives.Add(hiddenN, inputGates.Slice(2 * size, size), hiddenN);
        TensorPrimitives.Tanh(hiddenN, hiddenN);
        Blend(z, hiddenN, h, scratch);
    }

    /// <summary>h' = (1 − z) ⊙ n + z ⊙ h, computed as n + z ⊙ (h − n).</summary>
    private static void Blend(ReadOnlySpan<float> z, ReadOnlySpan<float> n, Span<float> h, Span<float> scratch)
    {
        Span<float> diff = scratch.Slice(0, h.Length);
        TensorPrimitives.Subtract(h, n, diff);
        TensorPrimitives.FusedMultiplyAdd(z, diff, n, h);
    }
}
