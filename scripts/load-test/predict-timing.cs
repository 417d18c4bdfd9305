#:project ../../src/GruService.Engine/GruService.Engine.csproj
#:property PublishAot=false
#:property Configuration=Release
// The engine's share of a load-test request, without HTTP: times GruModel.Predict on one thread for a batch of B
// sequences (B = 1 is what each request costs with batching off; larger B is what dynamic batching can turn 64
// concurrent requests into). Prints microseconds per call and per sequence: wall time, and the process's CPU time
// (on a busy machine the wall time includes waiting for a core; the CPU time does not). --kernel-threads 1 keeps every
// product on the calling thread, as Inference:KernelThreads=1 does in the service.
//   dotnet run -c Release --file scripts/load-test/predict-timing.cs -- [--input 8] [--hidden 64] [--steps 50] [--batches 1,8,64] [--seconds 3] [--kernel-threads 1|2]
using System.Diagnostics;
using System.Globalization;
using GruService.Engine;
using GruService.Engine.Kernels;

int input = 8, hidden = 64, steps = 50;
double seconds = 3;
int[] batches = [1, 8, 64];
for (int i = 0; i + 1 < args.Length; i += 2)
{
    string value = args[i + 1];
    switch (args[i])
    {
        case "--input": input = int.Parse(value, CultureInfo.InvariantCulture); break;
        case "--hidden": hidden = int.Parse(value, CultureInfo.InvariantCulture); break;
        case "--steps": steps = int.Parse(value, CultureInfo.InvariantCulture); break;
        case "--seconds": seconds = double.Parse(value, CultureInfo.InvariantCulture); break;
        case "--kernel-threads": Gemm.MaxThreads = int.Parse(value, CultureInfo.InvariantCulture); break;
        case "--batches": batches = [.. value.Split(',').Select(b => int.Parse(b, CultureInfo.InvariantCulture))]; break;
        default: Console.Error.WriteLine($"unknown option {args[i]}"); return 2;
    }
}

var random = new Random(1);
float bound = 1 / MathF.Sqrt(hidden);
float[] Uniform(int count) => [.. Enumerable.Range(0, count).Select(_ => (random.NextSingle() * 2 - 1) * bound)];
var config = new GruConfig { Task = GruTask.Forecast, InputSize = input, HiddenSize = hidden, Horizon = 12, OutputSize = 1 };
var model = new GruModel(config,
    [new GruDirectionWeights(input, hidden, Uniform(3 * hidden * input), Uniform(3 * hidden * hidden), Uniform(3 * hidden), Uniform(3 * hidden))],
    Uniform(12 * hidden), Uniform(12));

Console.WriteLine($"GruModel.Predict, input {input}, hidden {hidden}, {steps} steps per sequence, one calling thread, kernel threads {Gemm.MaxThreads}, {Environment.ProcessorCount} cores");
Console.WriteLine("batch | calls | µs per call (wall) | µs per sequence (wall) | µs per sequence (process CPU)");
foreach (int batch in batches)
{
    float[] inputs = Uniform(batch * steps * input);
    int[] lengths = [.. Enumerable.Repeat(steps, batch)];
    var outputs = new float[batch * model.OutputsPerSequence];
    // Warm up past tiered compilation (tier 1 with PGO after ~30 calls plus the background compile delay).
    var warm = Stopwatch.StartNew();
    while (warm.Elapsed.TotalSeconds < Math.Max(1, seconds / 3)) model.Predict(inputs, lengths, outputs);

    long calls = 0;
    TimeSpan cpuStart = Process.GetCurrentProcess().TotalProcessorTime;
    var clock = Stopwatch.StartNew();
    while (clock.Elapsed.TotalSeconds < seconds) { model.Predict(inputs, lengths, outputs); calls++; }
    double wallUs = clock.Elapsed.TotalMicroseconds;
    double cpuUs = (Process.GetCurrentProcess().TotalProcessorTime - cpuStart).TotalMicroseconds;
    Console.WriteLine($"{batch,5} | {calls,5} | {wallUs / calls,18:F1} | {wallUs / calls / batch,22:F1} | {cpuUs / calls / batch,28:F1}");
}
return 0;
