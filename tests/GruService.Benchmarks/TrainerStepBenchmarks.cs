using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using GruService.Engine;
using GruService.Engine.Kernels;
using GruService.Engine.Training;
using GruService.Engine.Training.Data;
using GruService.Engine.Training.Optimization;

namespace GruService.Benchmarks;

/// <summary>The shape of a training step: one unidirectional linear-before-reset layer and a classification head.</summary>
/// <param name="SplitProducts">One shard per thread, each also splitting its large products over two cores (Gemm's helper).</param>
public sealed record TrainStepShape(int Input, int Hidden, int Steps, int Batch, int Classes, int Threads, bool SplitProducts = false) : IFlopCount
{
    /// <summary>Forward GRU products as ONNX Runtime's bench counts them, 2·3·(I·H + H·H)·T·B, times 3 for a training step.</summary>
    public double Flops => 3 * 2.0 * 3 * ((double)Input * Hidden + (double)Hidden * Hidden) * Steps * Batch;

    public override string ToString() => $"I{Input} H{Hidden} T{Steps} B{Batch} C{Classes} threads {Threads}{(SplitProducts ? " split products" : "")}";
}

/// <summary>
/// One optimiser step exactly as <see cref="GruTrainer"/> takes it (sharded forward and backward, gradient sum in shard
/// order, clipping, AdamW update) on Fashion-MNIST-shaped data: each image's 28 rows are 28 steps of 28 pixels.
/// </summary>
public sealed class TrainStepRunner
{
    private readonly TrainStepShape _shape;
    private readonly ClassificationProblem _problem;
    private readonly GruParameters<float> _parameters;
    private readonly MiniBatchStep _step;
    private readonly AdamOptimizer _optimizer;
    private readonly int[][] _batches;
    private int _next;

    public TrainStepRunner(TrainStepShape shape)
    {
        _shape = shape;
        var random = new Random(7);
        // Random pixels are as good as real ones for timing; a few batches' worth so that the step does not always see
        // the same rows in cache.
        const int BatchesOfData = 4;
        int examples = BatchesOfData * shape.Batch;
        var sequences = new float[examples][];
        var labels = new string[examples];
        for (int i = 0; i < examples; i++)
        {
            sequences[i] = new float[shape.Steps * shape.Input];
            for (int v = 0; v < sequences[i].Length; v++) sequences[i][v] = (float)random.NextDouble();
            labels[i] = (i % shape.Classes).ToString(CultureInfo.InvariantCulture);
        }
        _problem = new ClassificationProblem(new SequenceSet(shape.Input, sequences, labels).SplitAt(examples));
        GruConfig config = _problem.CreateConfig(new GruArchitecture(HiddenSize: shape.Hidden), new Dictionary<string, JsonElement>());
        _parameters = new GruParameters<float>(config);
        _parameters.InitializeLikePyTorch(new Random(1));
        _step = new MiniBatchStep(config, _parameters.Values.Length, shape.Threads,
            shape.SplitProducts ? GemmThreading.Auto : GemmThreading.Single);
        _optimizer = new AdamOptimizer(_parameters.Values.Length, OptimizerKind.AdamW, weightDecay: 0.01f);
        _batches = [.. Enumerable.Range(0, BatchesOfData).Select(b => Enumerable.Range(b * shape.Batch, shape.Batch).ToArray())];
    }

    /// <summary>One forward + backward + optimiser update; returns the batch's mean loss.</summary>
    public double Step()
    {
        int[] positions = _batches[_next];
        _next = (_next + 1) % _batches.Length;
        double loss = _step.ComputeGradient(_problem, _parameters, positions, 0, _ => 0, clipNorm: 1f, out _);
        _optimizer.Update(_parameters.Values, _step.Gradient, 1e-3f);
        return loss / positions.Length;
    }

    /// <summary>
    /// Median milliseconds per step over <paramref name="repeats"/> timed runs of <paramref name="stepsPerRepeat"/>
    /// steps; <paramref name="cpuMilliseconds"/> gets the process's CPU time per step over all of them (all threads):
    /// on a machine shared with other work, wall time stretches with the load and CPU time much less.
    /// </summary>
    public double MedianMilliseconds(int warmupSteps, int repeats, int stepsPerRepeat, out double cpuMilliseconds)
    {
        for (int i = 0; i < warmupSteps; i++) Step();
        var times = new double[repeats];
        using var process = Process.GetCurrentProcess();
        TimeSpan cpuStart = process.TotalProcessorTime;
        for (int r = 0; r < repeats; r++)
        {
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < stepsPerRepeat; i++) Step();
            times[r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds / stepsPerRepeat;
        }
        process.Refresh();
        cpuMilliseconds = (process.TotalProcessorTime - cpuStart).TotalMilliseconds / (repeats * stepsPerRepeat);
        Array.Sort(times);
        return repeats % 2 == 1 ? times[repeats / 2] : (times[repeats / 2 - 1] + times[repeats / 2]) / 2;
    }

    public TrainStepShape Shape => _shape;
}

/// <summary>The <c>train-step</c> verb: one JSON line of the sustained training-step rate.</summary>
public static class TrainStepCommand
{
    /// <summary>
    /// The machine's FMA peak: 2 cores × 2 FMA pipes × 8 float lanes (AVX2) × 2 flops × ~3.1 GHz ≈ 200 GFLOP/s, the
    /// figure issue 4's targets are stated against.
    /// </summary>
    public const double PeakGflops = 200;

    public static int Run(string[] args)
    {
        Dictionary<string, int> options;
        try
        {
            options = VerbOptions.Parse(args[1..], new Dictionary<string, int>
            {
                ["input"] = 28, ["hidden"] = 128, ["steps"] = 28, ["batch"] = 256, ["classes"] = 10, ["threads"] = 2,
                ["warmup"] = 5, ["repeats"] = 7, ["steps-per-repeat"] = 10, ["split-products"] = 0,
            }, minimum: name => name == "split-products" ? 0 : 1);
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"train-step: {e.Message} Options (positive integers; --split-products 0 or 1): --input --hidden --steps --batch --classes --threads --warmup --repeats --steps-per-repeat --split-products");
            return 2;
        }
        var shape = new TrainStepShape(options["input"], options["hidden"], options["steps"], options["batch"], options["classes"], options["threads"],
            SplitProducts: options["split-products"] != 0);
        if (shape.SplitProducts && shape.Threads != 1)
        {
            // Gemm has one helper thread for the whole process: with several shards it would serve one at a time.
            Console.Error.WriteLine("train-step: --split-products 1 runs one shard whose products use both cores; give --threads 1.");
            return 2;
        }
        var runner = new TrainStepRunner(shape);
        double ms = runner.MedianMilliseconds(options["warmup"], options["repeats"], options["steps-per-repeat"], out double cpuMs);
        // Not part of the JSON line: how to read it depends on the machine's load, which goes with it.
        Console.Error.WriteLine(FormattableString.Invariant($"train-step: {cpuMs:F1} ms of CPU per step (all threads); load average {LoadAverage()}"));
        double gflops = shape.Flops / (ms * 1e6);
        var line = new Dictionary<string, object>
        {
            ["engine"] = "gruservice",
            ["input"] = shape.Input,
            ["hidden"] = shape.Hidden,
            ["steps"] = shape.Steps,
            ["batch"] = shape.Batch,
            ["layers"] = 1,
            ["threads"] = shape.SplitProducts ? 2 : shape.Threads, // a split product's second core is a thread too
            ["ms_per_step"] = Math.Round(ms, 3),
            ["gflops"] = Math.Round(gflops, 2),
            ["peak_fraction"] = Math.Round(gflops / PeakGflops, 4),
        };
        Console.WriteLine(JsonSerializer.Serialize(line));
        return 0;
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
        catch (UnauthorizedAccessException) { return "?"; }
    }
}

/// <summary>The training step of issue 4 (I 28, H 128, T 28, B 256, 10 classes) on one and two threads.</summary>
public class TrainerStepBenchmarks
{
    private TrainStepRunner _runner = null!;

    public static IEnumerable<TrainStepShape> Shapes =>
    [
        new(28, 128, 28, 256, 10, Threads: 1),
        new(28, 128, 28, 256, 10, Threads: 2),
        new(28, 128, 28, 256, 10, Threads: 1, SplitProducts: true),
    ];

    [ParamsSource(nameof(Shapes))]
    public TrainStepShape Shape { get; set; } = null!;

    [GlobalSetup]
    public void Setup() => _runner = new TrainStepRunner(Shape);

    [Benchmark]
    public double TrainingStep() => _runner.Step();
}
