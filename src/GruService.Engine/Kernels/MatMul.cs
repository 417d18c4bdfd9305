using System.Numerics.Tensors;

namespace GruService.Engine.Kernels;

/// <summary>Matrix products over row-major spans.</summary>
public static class MatMul
{
    /// <summary>
    /// c[i, j] = bias[j] + Σ_k a[i, k] · b[j, k] for a [m, k], b [n, k] (PyTorch's weight layout), c [m, n].
    /// Each element is one dot product of two contiguous rows, so a row's result does not depend on
    /// which other rows share the call: batched and single answers stay bit-identical.
    /// </summary>
    public static void MultiplyTransposedAddBias(
        ReadOnlySpan<float> a, int m, int k, ReadOnlySpan<float> b, int n, ReadOnlySpan<float> bias, Span<float> c)
    {
        if (a.Length < m * k) throw new ArgumentException("a is shorter than m × k.", nameof(a));
        if (b.Length < n * k) throw new ArgumentException("b is shorter than n × k.", nameof(b));
        if (bias.Length < n) throw new ArgumentException("bias is shorter than n.", nameof(bias));
        if (c.Length < m * n) throw new ArgumentException("c is shorter than m × n.", nameof(c));

        for (int i = 0; i < m; i++)
        {
            ReadOnlySpan<float> row = a.Slice(i * k, k);
            Span<float> outRow = c.Slice(i * n, n);
            for (int j = 0; j < n; j++)
                outRow[j] = bias[j] + TensorPrimitives.Dot(row, b.Slice(j * k, k));
        }
    }
}
