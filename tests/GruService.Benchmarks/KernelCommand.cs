using System.Diagnostics;
using System.Text.Json;
using GruService.Engine;
using GruService.Engine.Kernels;
using GruService.Engine.Training;

namespace GruService.Benchmarks;

/// <summary>
/// <c>kernel</c>: the same measurement as ../shared/refs/bench_ort.js, so that the two print comparable lines: a
/// forward pass of a unidirectional GRU stack (PyTorch form) plus a forecast head (horizon 1, one output) over a
/// [batch, steps, input] batch of values in [-1, 1], one second of warm-up, then the median of many timed passes.
/// GFLOP counted as bench_ort.js counts it: 2·3·(in·H + H·H)·T·B per layer.
/// </summary>
public static class KernelCommand
{
    public const string Usage =
        "kernel --input I --hidden H --steps T --batch B [--layers L] [--threads 1|2] [--runs N]";

    public static int Run(string[] args)
    {
        Dictionary<string, int> options;
        try
        {
            options = VerbOptions.Parse(args, new Dictionary<string, int>
            {
                ["input"] = 8, ["hidden"] = 64, ["steps"] = 50, ["batch"] = 1, ["layers"] = 1, ["threads"] = 2, ["runs"] = 200,
            });
        }
        catch (FormatException e)
        {
            Console.Error.WriteLine($"{e.Message}\nusage: {Usage}");
            return 2;
        }
        int input = options["input"], hidden = options["hidden"], steps = options["steps"], batch = options["batch"];
        int layers = options["layers"], threads = options["threads"], runs = options["runs"];
        if (threads is < 1 or > 2)
        {
            Console.Error.WriteLine("--threads must be 1 or 2: the kernels use at most two cores.");
            return 2;
        }

        Gemm.MaxThreads = threads;
        GruModel model = RandomModel(input, hidden, layers);
        var random = new Random(11);
        float[] inputs = new float[batch * steps * input];
        for (int i = 0; i < inputs.Length; i++) inputs[i] = random.NextSingle() * 2 - 1;
        int[] lengths = Enumerable.Repeat(steps, batch).ToArray();
        float[] outputs = new float[batch * model.OutputsPerSequence];

        // As bench_ort.js: a second of passes first, so that tiering, caches and the helper core have settled.
        var warmUp = Stopwatch.StartNew();
        while (warmUp.Elapsed < TimeSpan.FromSeconds(1)) model.Predict(inputs, lengths, outputs);

        double[] milliseconds = new double[runs];
        for (int r = 0; r < runs; r++)
        {
            long start = Stopwatch.GetTimestamp();
            model.Predict(inputs, lengths, outputs);
            milliseconds[r] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        }
        Array.Sort(milliseconds);
        double median = milliseconds[runs / 2];

        double flops = 0;
        for (int layer = 0; layer < layers; layer++)
            flops += 2.0 * 3 * ((layer == 0 ? input : hidden) * (double)hidden + (double)hidden * hidden) * steps * batch;
        Console.WriteLine(JsonSerializer.Serialize(new KernelResult(
            "gruservice", input, hidden, steps, batch, layers, threads, Math.Round(median, 4),
            (long)Math.Round(steps * batch / median * 1000), Math.Round(flops / median / 1e6, 2)), KernelResultJson.Options));
        return 0;
    }

    /// <summary>Weights drawn as PyTorch draws them (uniform ±1/√H), no normalisation: what bench_ort.js builds.</summary>
    internal static GruModel RandomModel(int input, int hidden, int layers)
    {
        var config = new GruConfig
        {
            Task = GruTask.Forecast, InputSize = input, HiddenSize = hidden, NumLayers = layers, LinearBeforeReset = true,
            Horizon = 1, OutputSize = 1,
        };
        var parameters = new GruParameters<float>(config);
        parameters.InitializeLikePyTorch(new Random(7));
        return parameters.ToModel();
    }
}

/// <summary>One line shaped like bench_ort.js's output.</summary>
public sealed record KernelResult(
    string Engine, int Input, int Hidden, int Steps, int Batch, int Layers, int Threads,
    double MsPerRun, long SequenceStepsPerS, double Gflops);

internal static class KernelResultJson
{
    public static readonly JsonSerializerOptions Options = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };
}
