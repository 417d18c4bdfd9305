using BenchmarkDotNet.Attributes;
using GruService.Engine.Kernels;

namespace GruService.Benchmarks;

/// <summary>A GRU forward pass of the speed targets; flops counted as ../shared/refs/bench_ort.js counts them.</summary>
public sealed record GruShape(int Input, int Hidden, int Steps, int Batch) : IFlopCount
{
    public double Flops => 2.0 * 3 * ((double)Input * Hidden + (double)Hidden * Hidden) * Steps * Batch;

    public override string ToString() => $"I{Input}H{Hidden}T{Steps}B{Batch}";
}

/// <summary>
/// What a whole forward pass gains from the kernels, before GruModel is wired: one layer, linear-before-reset
/// (the form bench_ort.js times), equal lengths, the gate math of <see cref="GruCell"/> after each step's product.
/// Not the model's code (no packing of ragged batches, no head): a sketch of where the time goes, in GFLOP/s
/// comparable with the ONNX Runtime anchor.
/// </summary>
[WarmupCount(20)] // the gate math (TensorPrimitives) needs ~20 passes to leave tier 0; ShortRun's 3 would time that
public class GruForwardSketchBenchmarks
{
    private float[] _x = [], _wih = [], _whh = [], _bih = [], _bhh = [], _inputGates = [], _hiddenGates = [], _h = [];
    private PackedWeights _packedIh = null!, _packedHh = null!;

    public static IEnumerable<GruShape> Shapes => [new(8, 64, 50, 1), new(8, 64, 50, 64), new(32, 256, 100, 1), new(32, 256, 100, 64), new(28, 128, 28, 256)];

    [ParamsSource(nameof(Shapes))]
    public GruShape Shape { get; set; } = null!;

    [GlobalSetup]
    public void Setup()
    {
        var random = new Random(5);
        int i = Shape.Input, h = Shape.Hidden, rows = Shape.Steps * Shape.Batch;
        float scale = 1 / MathF.Sqrt(h);
        _x = GemmBenchmarks.Values(rows * i, random);
        _wih = Scaled(GemmBenchmarks.Values(3 * h * i, random), scale);
        _whh = Scaled(GemmBenchmarks.Values(3 * h * h, random), scale);
        _bih = Scaled(GemmBenchmarks.Values(3 * h, random), scale);
        _bhh = Scaled(GemmBenchmarks.Values(3 * h, random), scale);
        _inputGates = new float[rows * 3 * h];
        _hiddenGates = new float[Shape.Batch * 3 * h];
        _h = new float[Shape.Batch * h];
        _packedIh = new PackedWeights(_wih, 3 * h, i, _bih);
        _packedHh = new PackedWeights(_whh, 3 * h, h, _bhh);
    }

    [Benchmark(Baseline = true)]
    public float MatMulToday() => Forward(packed: false);

    [Benchmark]
    public float PackedKernels() => Forward(packed: true);

    /// <summary>The gate math as the product's epilogue: each core runs it on the rows it just computed.</summary>
    [Benchmark]
    public float PackedFusedGates()
    {
        int h = Shape.Hidden, b = Shape.Batch, gates = 3 * h, rows = Shape.Steps * b;
        Gemm.MultiplyTransposedAddBias(_x, rows, _packedIh, _inputGates);
        Array.Clear(_h);
        var step = new GateStep(_inputGates, _hiddenGates, _h, h);
        for (int t = 0; t < Shape.Steps; t++)
        {
            step.FirstInputRow = t * b;
            Gemm.MultiplyTransposedAddBias(_h, b, h, _packedHh, _hiddenGates, gates, step);
        }
        return _h[0];
    }

    private float Forward(bool packed)
    {
        int i = Shape.Input, h = Shape.Hidden, b = Shape.Batch, gates = 3 * h, rows = Shape.Steps * b;
        // Time-major: row t·B + j is step t of sequence j, so each step's rows are one contiguous block.
        if (packed) Gemm.MultiplyTransposedAddBias(_x, rows, _packedIh, _inputGates);
        else MatMul.MultiplyTransposedAddBias(_x, rows, i, _wih, gates, _bih, _inputGates);
        Span<float> state = _h;
        state.Clear();
        for (int t = 0; t < Shape.Steps; t++)
        {
            if (packed) Gemm.MultiplyTransposedAddBias(state, b, _packedHh, _hiddenGates);
            else MatMul.MultiplyTransposedAddBias(state, b, h, _whh, gates, _bhh, _hiddenGates);
            for (int j = 0; j < b; j++)
                GruCell.StepLinearBeforeReset(_inputGates.AsSpan((t * b + j) * gates, gates), _hiddenGates.AsSpan(j * gates, gates), state.Slice(j * h, h));
        }
        return state[0];
    }

    /// <summary>Linear-before-reset gate math of one step for finished rows of the recurrent product.</summary>
    private sealed class GateStep(float[] inputGates, float[] hiddenGates, float[] state, int hidden) : IGemmRowEpilogue
    {
        public int FirstInputRow { get; set; }

        public void RowsDone(int first, int count)
        {
            int gates = 3 * hidden;
            for (int j = first; j < first + count; j++)
                GruCell.StepLinearBeforeReset(inputGates.AsSpan((FirstInputRow + j) * gates, gates), hiddenGates.AsSpan(j * gates, gates),
                    state.AsSpan(j * hidden, hidden));
        }
    }

    private static float[] Scaled(float[] values, float scale)
    {
        for (int k = 0; k < values.Length; k++) values[k] *= scale;
        return values;
    }
}
