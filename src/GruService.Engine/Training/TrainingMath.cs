using System.Numerics;
using System.Numerics.Tensors;

namespace GruService.Engine.Training;

/// <summary>
/// The matrix products of training, over row-major spans. Every product of the forward and backward passes goes
/// through these few functions so that a faster kernel (for float) can replace them in one place.
/// </summary>
internal static class TrainingMath
{
    /// <summary>
    /// c[i, j] = bias[j] + Σ_p a[i, p] · b[j, p] for a [m, k], b [n, k] (PyTorch's weight layout), c [m, n].
    /// An empty <paramref name="bias"/> adds nothing. Each element is one dot product of two contiguous rows,
    /// as in the inference kernel, so the float results match it bit for bit.
    /// </summary>
    public static void MultiplyTransposed<T>(ReadOnlySpan<T> a, int m, int k, ReadOnlySpan<T> b, int n, ReadOnlySpan<T> bias, Span<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Require(a.Length >= (long)m * k && b.Length >= (long)n * k && c.Length >= (long)m * n && (bias.IsEmpty || bias.Length >= n));
        for (int i = 0; i < m; i++)
        {
            ReadOnlySpan<T> row = a.Slice(i * k, k);
            Span<T> outRow = c.Slice(i * n, n);
            for (int j = 0; j < n; j++)
            {
                T dot = TensorPrimitives.Dot(row, b.Slice(j * k, k));
                outRow[j] = bias.IsEmpty ? dot : bias[j] + dot;
            }
        }
    }

    /// <summary>c += aᵀ · b for a [m, k], b [m, n], c [k, n]: a weight gradient summed over the m rows of a batch.</summary>
    public static void AddTransposedProduct<T>(ReadOnlySpan<T> a, int m, int k, ReadOnlySpan<T> b, int n, Span<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Require(a.Length >= (long)m * k && b.Length >= (long)m * n && c.Length >= (long)k * n);
        for (int i = 0; i < m; i++)
        {
            ReadOnlySpan<T> bRow = b.Slice(i * n, n);
            for (int p = 0; p < k; p++)
            {
                Span<T> cRow = c.Slice(p * n, n);
                TensorPrimitives.MultiplyAdd(bRow, a[i * k + p], cRow, cRow);
            }
        }
    }

    /// <summary>c = a · b for a [m, k], b [k, n], c [m, n]: a gradient sent back through a weight.</summary>
    public static void Multiply<T>(ReadOnlySpan<T> a, int m, int k, ReadOnlySpan<T> b, int n, Span<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Require(a.Length >= (long)m * k && b.Length >= (long)k * n && c.Length >= (long)m * n);
        for (int i = 0; i < m; i++)
        {
            Span<T> cRow = c.Slice(i * n, n);
            cRow.Clear();
            for (int p = 0; p < k; p++)
                TensorPrimitives.MultiplyAdd(b.Slice(p * n, n), a[i * k + p], cRow, cRow);
        }
    }

    /// <summary>c[j] += Σ_i a[i, j] for a [m, n]: a bias gradient summed over the rows of a batch.</summary>
    public static void AddColumnSums<T>(ReadOnlySpan<T> a, int m, int n, Span<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Require(a.Length >= (long)m * n && c.Length >= n);
        Span<T> sum = c.Slice(0, n);
        for (int i = 0; i < m; i++)
            TensorPrimitives.Add(sum, a.Slice(i * n, n), sum);
    }

    private static void Require(bool shapesFit)
    {
        if (!shapesFit) throw new ArgumentException("A span is shorter than the matrix shape given for it.");
    }
}
