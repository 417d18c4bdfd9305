using GruService.Engine.Kernels;

namespace GruService.Engine.Tests.Kernels;

/// <summary>Deterministic operands and the plain references the kernels are checked against.</summary>
internal static class GemmTestData
{
    /// <summary>Values in [-1, 1) from a fixed seed, with exact small integers mixed in to catch lane mix-ups.</summary>
    public static float[] Matrix(int count, int seed)
    {
        var random = new Random(seed);
        var values = new float[count];
        for (int i = 0; i < values.Length; i++)
            values[i] = i % 7 == 3 ? random.Next(-3, 4) : (float)(random.NextDouble() * 2 - 1);
        return values;
    }

    /// <summary>
    /// Checks got[i·cStride + j] against bias[j] + Σ_k a[i·aStride + k]·w[j·K + k] summed in double. A chain of K
    /// float FMAs is within K·ε of the exact value relative to Σ|terms|: the bound allows K + 1 ulps of that.
    /// </summary>
    public static void AssertMatchesReference(ReadOnlySpan<float> a, int rows, int aStride, float[] w, int n, int k, float[]? bias,
        ReadOnlySpan<float> got, int cStride, string where)
    {
        for (int i = 0; i < rows; i++)
            for (int j = 0; j < n; j++)
            {
                double exact = bias is null ? 0 : bias[j], magnitude = Math.Abs(exact);
                for (int p = 0; p < k; p++)
                {
                    double term = (double)a[i * aStride + p] * w[j * k + p];
                    exact += term;
                    magnitude += Math.Abs(term);
                }
                double tolerance = (k + 1) * magnitude * MathF.Pow(2, -24) + 1e-30;
                float value = got[i * cStride + j];
                if (!(Math.Abs(value - exact) <= tolerance))
                    Assert.Fail($"{where}: C[{i}, {j}] = {value:R}, reference {exact:R} (tolerance {tolerance:R})");
            }
    }

    /// <summary>
    /// C[i, j] as one float chain, acc = bias[j], acc = fma(a[i, k], w[j, k], acc) for k ascending: what every kernel
    /// must reproduce bit for bit.
    /// </summary>
    public static float Chain(ReadOnlySpan<float> a, int row, int aStride, float[] w, int j, int k, float[]? bias)
    {
        float acc = bias is null ? 0 : bias[j];
        for (int p = 0; p < k; p++) acc = MathF.FusedMultiplyAdd(a[row * aStride + p], w[j * k + p], acc);
        return acc;
    }

    public static void AssertBitIdentical(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, string where)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                Assert.Fail($"{where}: element {i} is {actual[i]:R}, expected {expected[i]:R} bit for bit");
    }

    /// <summary>
    /// The kernel paths by name, for theories: all three run everywhere (where Vector512 is not accelerated, .NET
    /// runs it as two Vector256 halves, which checks its logic though not its speed).
    /// </summary>
    public static GemmPath Path(string name) => Enum.Parse<GemmPath>(name);

    public static int TileRows(GemmPath path) => path switch
    {
        GemmPath.Vector512 => 8,
        GemmPath.Vector256 => 6,
        _ => 1,
    };
}
