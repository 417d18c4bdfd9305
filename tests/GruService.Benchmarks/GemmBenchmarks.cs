using System.Numerics.Tensors;
using BenchmarkDotNet.Attributes;
using GruService.Engine.Kernels;

namespace GruService.Benchmarks;

/// <summary>
/// One product C [rows, n] = bias + A [rows, k] · Wᵀ of a GRU forward pass: the input projection of all steps
/// ([T·B, I] × [3H, I]ᵀ) or one step's recurrent product ([B, H] × [3H, H]ᵀ).
/// </summary>
public sealed record GemmShape(string Name, int Rows, int K, int N) : IFlopCount
{
    public double Flops => 2.0 * Rows * K * N;

    public override string ToString() => Name;

    /// <summary>The five GRU shapes of the speed targets, each as its two products, named "rows x K x N".</summary>
    public static IEnumerable<GemmShape> Gru()
    {
        foreach (var (i, h, t, b) in new[] { (8, 64, 50, 1), (8, 64, 50, 64), (32, 256, 100, 1), (32, 256, 100, 64), (28, 128, 28, 256) })
        {
            string gru = $"I{i}H{h}T{t}B{b}";
            yield return new GemmShape($"{gru} in  {t * b}x{i}x{3 * h}", t * b, i, 3 * h);
            yield return new GemmShape($"{gru} rec {b}x{h}x{3 * h}", b, h, 3 * h);
        }
    }
}

/// <summary>
/// Today's product (one dot product per element) against the packed kernels on one core, on two cores, and as the
/// public API picks (two cores above a size threshold).
/// </summary>
public class GemmBenchmarks
{
    private float[] _a = [], _w = [], _bias = [], _c = [];
    private PackedWeights _packed = null!;

    public static IEnumerable<GemmShape> Shapes => GemmShape.Gru();

    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _a = Values(Shape.Rows * Shape.K, random);
        _w = Values(Shape.N * Shape.K, random);
        _bias = Values(Shape.N, random);
        _c = new float[Shape.Rows * Shape.N];
        _packed = new PackedWeights(_w, Shape.N, Shape.K, _bias);
    }

    /// <summary>What inference did before the packed kernels: one TensorPrimitives.Dot per output element.</summary>
    [Benchmark(Baseline = true)]
    public void DotPerElement()
    {
        int k = Shape.K, n = Shape.N;
        for (int i = 0; i < Shape.Rows; i++)
        {
            ReadOnlySpan<float> row = _a.AsSpan(i * k, k);
            Span<float> outRow = _c.AsSpan(i * n, n);
            for (int j = 0; j < n; j++)
                outRow[j] = _bias[j] + TensorPrimitives.Dot(row, _w.AsSpan(j * k, k));
        }
    }

    [Benchmark]
    public void PackedOneCore() => Gemm.MultiplyTransposedAddBias(_a, Shape.Rows, Shape.K, _packed, _c, Shape.N, new GemmSettings(Threading: GemmThreading.Single));

    [Benchmark]
    public void PackedTwoCores() => Gemm.MultiplyTransposedAddBias(_a, Shape.Rows, Shape.K, _packed, _c, Shape.N, new GemmSettings(Threading: GemmThreading.Split));

    [Benchmark]
    public void PackedAuto() => Gemm.MultiplyTransposedAddBias(_a, Shape.Rows, Shape.K, _packed, _c, Shape.N);

    internal static float[] Values(int count, Random random)
    {
        var values = new float[count];
        for (int i = 0; i < values.Length; i++) values[i] = (float)(random.NextDouble() * 2 - 1);
        return values;
    }
}

/// <summary>
/// How the second core is engaged: the resident spinning helper against Parallel.For, on the products where a
/// split pays (and on one where it should not).
/// </summary>
public class GemmSplitBenchmarks
{
    private float[] _a = [], _c = [];
    private PackedWeights _packed = null!;

    public static IEnumerable<GemmShape> Shapes => GemmShape.Gru().Where(s => s.Name.StartsWith("I32H256", StringComparison.Ordinal)
        || s.Name.StartsWith("I8H64T50B1 rec", StringComparison.Ordinal));

    [ParamsSource(nameof(Shapes))]
    public GemmShape Shape { get; set; } = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(42);
        _a = GemmBenchmarks.Values(Shape.Rows * Shape.K, random);
        _c = new float[Shape.Rows * Shape.N];
        _packed = new PackedWeights(GemmBenchmarks.Values(Shape.N * Shape.K, random), Shape.N, Shape.K, GemmBenchmarks.Values(Shape.N, random));
    }

    [Benchmark(Baseline = true)]
    public void OneCore() => Gemm.MultiplyTransposedAddBias(_a, Shape.Rows, Shape.K, _packed, _c, Shape.N, new GemmSettings(Threading: GemmThreading.Single));

    [Benchmark]
    public void ResidentHelper() => Gemm.MultiplyTransposedAddBias(_a, Shape.Rows, Shape.K, _packed, _c, Shape.N, new GemmSettings(Threading: GemmThreading.Split));

    [Benchmark]
    public void ParallelFor() => Gemm.MultiplyTransposedAddBias(_a, Shape.Rows, Shape.K, _packed, _c, Shape.N, new GemmSettings(Threading: GemmThreading.ThreadPool));
}
