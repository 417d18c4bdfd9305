using BenchmarkDotNet.Attributes;
using GruService.Engine;
using GruService.Engine.Kernels;

namespace GruService.Benchmarks;

/// <summary>A GRU forward pass of the speed targets; flops counted as ../shared/refs/bench_ort.js counts them.</summary>
public sealed record GruShape(int Input, int Hidden, int Steps, int Batch) : IFlopCount
{
    public double Flops => 2.0 * 3 * ((double)Input * Hidden + (double)Hidden * Hidden) * Steps * Batch;

    public override string ToString() => $"I{Input}H{Hidden}T{Steps}B{Batch}";
}

/// <summary>
/// <see cref="GruModel.Predict"/> on the five shapes of the speed targets, on one core and on two: the whole forward
/// pass as served (packing of the batch, input projection, fused recurrent steps, head). The `kernel` verb measures
/// the same pass as a single JSON line for comparison with ONNX Runtime.
/// </summary>
[WarmupCount(20)] // the gate math (TensorPrimitives) needs ~20 passes to leave tier 0; ShortRun's 3 would time that
public class GruForwardBenchmarks
{
    private GruModel _model = null!;
    private float[] _inputs = [], _outputs = [];
    private int[] _lengths = [];

    public static IEnumerable<GruShape> Shapes => [new(8, 64, 50, 1), new(8, 64, 50, 64), new(32, 256, 100, 1), new(32, 256, 100, 64), new(28, 128, 28, 256)];

    [ParamsSource(nameof(Shapes))]
    public GruShape Shape { get; set; } = null!;

    [Params(1, 2)]
    public int Threads { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Gemm.MaxThreads = Threads;
        _model = KernelCommand.RandomModel(Shape.Input, Shape.Hidden, layers: 1);
        _inputs = GemmBenchmarks.Values(Shape.Batch * Shape.Steps * Shape.Input, new Random(5));
        _lengths = Enumerable.Repeat(Shape.Steps, Shape.Batch).ToArray();
        _outputs = new float[Shape.Batch * _model.OutputsPerSequence];
    }

    [GlobalCleanup]
    public void Cleanup() => Gemm.MaxThreads = Math.Min(2, Environment.ProcessorCount);

    [Benchmark]
    public float Predict()
    {
        _model.Predict(_inputs, _lengths, _outputs);
        return _outputs[0];
    }
}
