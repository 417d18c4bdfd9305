using BenchmarkDotNet.Attributes;
using GruService.Engine.Kernels;
using GruService.Engine.Training;

namespace GruService.Benchmarks;

/// <summary>A training product: m rows of the batch, the k and n of <c>TrainingMath</c>'s signatures.</summary>
public sealed record TrainingShape(string Name, int M, int K, int N) : IFlopCount
{
    public double Flops => 2.0 * M * K * N;

    public override string ToString() => Name;
}

/// <summary>
/// The backward products of one GRU step and of a layer's input weights (I = 28, H = 128, B = 256, T = 28, and
/// I = 8, H = 64, B = 64): TrainingMath's float case against TrainingGemm.
/// </summary>
public class TrainingProductBenchmarks
{
    private float[] _a = [], _b = [], _c = [];

    public static IEnumerable<TrainingShape> Shapes =>
    [
        new("dW_hh += dGᵀ·h  [256x384]ᵀ[256x128]", 256, 384, 128),
        new("dW_ih += dGᵀ·x  [7168x384]ᵀ[7168x28]", 7168, 384, 28),
        new("dW_hh += dGᵀ·h  [64x192]ᵀ[64x64]", 64, 192, 64),
    ];

    public static IEnumerable<TrainingShape> MultiplyShapes =>
    [
        new("dh = dG·W_hh  [256x384][384x128]", 256, 384, 128),
        new("dx = dG·W_ih  [7168x384][384x28]", 7168, 384, 28),
        new("dh = dG·W_hh  [64x192][192x64]", 64, 192, 64),
    ];

    [ParamsSource(nameof(AllShapes))]
    public TrainingShape Shape { get; set; } = null!;

    public static IEnumerable<TrainingShape> AllShapes => Shapes.Concat(MultiplyShapes);

    private bool IsMultiply => Shape.Name.Contains("= dG·", StringComparison.Ordinal);

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(3);
        int m = Shape.M, k = Shape.K, n = Shape.N;
        _a = GemmBenchmarks.Values(m * k, random);
        _b = GemmBenchmarks.Values(IsMultiply ? k * n : m * n, random);
        _c = new float[IsMultiply ? m * n : k * n];
    }

    [Benchmark(Baseline = true)]
    public void TrainingMathToday()
    {
        if (IsMultiply) TrainingMath.Multiply<float>(_a, Shape.M, Shape.K, _b, Shape.N, _c);
        else TrainingMath.AddTransposedProduct<float>(_a, Shape.M, Shape.K, _b, Shape.N, _c);
    }

    [Benchmark]
    public void TrainingGemmAuto()
    {
        if (IsMultiply) TrainingGemm.Multiply(_a, Shape.M, Shape.K, _b, Shape.N, _c);
        else TrainingGemm.AddTransposedProduct(_a, Shape.M, Shape.K, _b, Shape.N, _c);
    }

    [Benchmark]
    public void TrainingGemmOneCore()
    {
        var settings = new GemmSettings(Threading: GemmThreading.Single);
        if (IsMultiply) TrainingGemm.Multiply(_a, Shape.M, Shape.K, _b, Shape.N, _c, settings);
        else TrainingGemm.AddTransposedProduct(_a, Shape.M, Shape.K, _b, Shape.N, _c, settings);
    }
}
