using System.Diagnostics;
using GruService.Engine.ModelFiles;

namespace GruService.Fuzz;

/// <summary>
/// One fuzzing run: starts the service on a loopback port, uploads the seed models, then runs the iterations one
/// after another, each under the hang bound, sampling memory as it goes. Iteration i's inputs come from
/// <see cref="IterationSeed"/>(seed, i) alone, so any failure can be replayed on its own.
/// </summary>
public static class FuzzRunner
{
    /// <summary>Random valid model files added to the bundled ones as mutation seeds.</summary>
    private const int RandomSeedModels = 8;

    public static async Task<FuzzSummary> RunAsync(FuzzSettings settings, TextWriter? progress = null)
    {
        var clock = Stopwatch.StartNew();
        string reproducers = settings.OutputDirectory ?? Path.Combine(Path.GetTempPath(), $"gru-fuzz-seed{settings.Seed}-{DateTime.UtcNow:yyyyMMddHHmmss}");
        var failures = new FailureLog(reproducers, settings.Seed);
        var stats = new FuzzStats();

        using var host = new FuzzHost();
        using HttpClient client = await host.ReadyClientAsync(settings.HangBound);
        var stage = new IterationStage();
        var probe = new ServiceProbe(client, stats, failures, stage);

        var limits = new ModelLimits();
        IReadOnlyList<SeedModel> bundled = Seeds.BundledModels(FuzzHost.BundledModelsDirectory, limits);
        if (bundled.Count == 0) throw new InvalidOperationException($"No bundled model files in {FuzzHost.BundledModelsDirectory}.");
        IReadOnlyList<SeedModel> modelSeeds = [.. bundled, .. Seeds.RandomModels(new Random(settings.Seed), RandomSeedModels, limits)];
        var modelFiles = new ModelFileFuzzer(probe, stats, failures, settings, modelSeeds, stage);
        await modelFiles.SetUpAsync();
        var requests = new RequestFuzzer(probe, stats, settings, bundled, ExampleBodies(), stage);

        var memory = new MemorySampler();
        memory.Sample();
        long heapAtStart = memory.Last;
        int sampleEvery = Math.Max(50, settings.Iterations / 200);
        bool stoppedByTimeLimit = false;

        IEnumerable<int> iterations = settings.OnlyIteration is { } only ? [only] : Enumerable.Range(0, settings.Iterations);
        foreach (int i in iterations)
        {
            if (settings.TimeLimit is { } limit && clock.Elapsed > limit)
            {
                stoppedByTimeLimit = true;
                break;
            }
            var random = new Random(IterationSeed(settings.Seed, i));
            bool modelFile = settings.Target switch
            {
                FuzzTarget.ModelFiles => true,
                FuzzTarget.Requests => false,
                _ => i % 2 == 0,
            };
            Task iteration = Task.Run(() => modelFile ? modelFiles.RunIterationAsync(i, random) : requests.RunIterationAsync(i, random));
            try
            {
                await iteration.WaitAsync(settings.HangBound + settings.HangBound);
            }
            catch (TimeoutException)
            {
                // The iteration may still be running on a thread pool thread; the state of the service is unknown, so stop here.
                failures.Record(FailureKind.Hang, i,
                    $"Iteration {i} ({(modelFile ? "model file" : "request")}) did not finish within {2 * settings.HangBound.TotalSeconds} s; it was {stage.Current}.", stage.Input);
                break;
            }
            catch (Exception e)
            {
                failures.Record(FailureKind.Crash, i, $"The iteration threw (a fuzzer fault unless the trace says otherwise): {e}", null);
            }
            stats.CountIteration();
            if (failures.Count(FailureKind.Hang) > 0) break;
            if ((i + 1) % sampleEvery == 0)
            {
                memory.Sample();
                progress?.WriteLine($"iteration {i + 1}: {stats.HttpRequests} HTTP requests, {failures.Failures.Count} failures, managed heap {memory.Last / 1e6:F0} MB, {clock.Elapsed.TotalSeconds:F0} s");
            }
        }

        memory.Sample();
        long heapAtEnd = memory.Last;
        (double firstQuarter, double lastQuarter) = memory.QuarterMeans();
        // Bounded: no more than the bound above the start at the end, and no steady climb (the last quarter of the
        // samples no more than half the bound above the first quarter).
        bool bounded = heapAtEnd - heapAtStart <= settings.MemoryBoundBytes && lastQuarter - firstQuarter <= settings.MemoryBoundBytes / 2.0;
        const double Mb = 1024 * 1024;
        return new FuzzSummary(
            stats.Iterations, stats.ModelFileMutations, stats.RequestMutations, stats.TrainingRequestMutations,
            stats.ModelFilesAcceptedInProcess, stats.ModelFilesUploaded, stats.HttpRequests, stats.StatusCounts,
            failures.Count(FailureKind.Crash), failures.Count(FailureKind.ServerError) + failures.Count(FailureKind.NonFiniteOutputServerError),
            failures.Count(FailureKind.NonFiniteOutputServerError), failures.Count(FailureKind.Hang),
            failures.Count(FailureKind.ContractViolation),
            Math.Round(Math.Max(memory.PeakWorkingSet, Process.GetCurrentProcess().PeakWorkingSet64) / Mb, 1),
            Math.Round(heapAtStart / Mb, 1), Math.Round(heapAtEnd / Mb, 1), Math.Round(firstQuarter / Mb, 1), Math.Round(lastQuarter / Mb, 1), bounded,
            Math.Round(clock.Elapsed.TotalSeconds, 1), stoppedByTimeLimit, settings.Seed,
            failures.Failures.Count > 0 ? failures.Directory : null)
        {
            Failures = [.. failures.Failures],
            NonFiniteOutputsTolerated = settings.TolerateNonFiniteOutputServerErrors,
        };
    }

    /// <summary>A well-mixed seed for one iteration (SplitMix64 of the run seed and the iteration), stable across processes.</summary>
    public static int IterationSeed(int seed, int iteration)
    {
        ulong z = ((ulong)(uint)seed << 32 | (uint)iteration) + 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)(z ^ (z >> 31));
    }

    /// <summary>The README's example requests (models/examples/NAME.json), which the build copies beside the fuzzer.</summary>
    private static Dictionary<string, string> ExampleBodies()
    {
        string directory = Path.Combine(AppContext.BaseDirectory, "examples");
        return Directory.Exists(directory)
            ? Directory.GetFiles(directory, "*.json").ToDictionary(p => Path.GetFileNameWithoutExtension(p), File.ReadAllText)
            : [];
    }

    /// <summary>Managed heap after full collections, and the process working set, sampled through the run.</summary>
    private sealed class MemorySampler
    {
        private readonly List<long> _heap = [];

        public long Last => _heap[^1];
        public long PeakWorkingSet { get; private set; }

        public void Sample()
        {
            _heap.Add(GC.GetTotalMemory(forceFullCollection: true));
            using var process = Process.GetCurrentProcess();
            PeakWorkingSet = Math.Max(PeakWorkingSet, process.WorkingSet64);
        }

        public (double First, double Last) QuarterMeans()
        {
            int quarter = Math.Max(1, _heap.Count / 4);
            return (_heap.Take(quarter).Average(), _heap.TakeLast(quarter).Average());
        }
    }
}
