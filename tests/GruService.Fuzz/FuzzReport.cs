using System.Collections.Concurrent;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace GruService.Fuzz;

/// <summary>What kind of broken promise a failure is.</summary>
public enum FailureKind
{
    /// <summary>An exception other than ModelFileException out of the parser, or the server dropping a connection without an answer.</summary>
    Crash,

    /// <summary>A 5xx answer.</summary>
    ServerError,

    /// <summary>
    /// A 5xx answer to a request whose outputs, computed in-process with the same model, are not finite: JSON cannot
    /// carry NaN or infinity, so the response cannot be written. Counted among the server errors too.
    /// </summary>
    NonFiniteOutputServerError,

    /// <summary>An iteration or request that outlived the hang bound.</summary>
    Hang,

    /// <summary>A 4xx without a problem body, a changed answer after a rejected upload, an accepted model that cannot answer, and the like.</summary>
    ContractViolation,
}

/// <summary>One failure, with the file that reproduces it.</summary>
public sealed record FuzzFailure(FailureKind Kind, int Iteration, string Description, string? ReproducerPath);

/// <summary>Counters of a run, shared by the iterations; thread-safe because a hung iteration may still be running.</summary>
public sealed class FuzzStats
{
    private long _iterations, _modelFileMutations, _requestMutations, _trainingRequestMutations, _httpRequests, _modelFilesAcceptedInProcess, _modelFilesUploaded;
    private readonly ConcurrentDictionary<int, long> _statusCounts = new();

    public long Iterations => Interlocked.Read(ref _iterations);
    public long ModelFileMutations => Interlocked.Read(ref _modelFileMutations);
    public long RequestMutations => Interlocked.Read(ref _requestMutations);
    public long TrainingRequestMutations => Interlocked.Read(ref _trainingRequestMutations);
    public long HttpRequests => Interlocked.Read(ref _httpRequests);
    public long ModelFilesAcceptedInProcess => Interlocked.Read(ref _modelFilesAcceptedInProcess);
    public long ModelFilesUploaded => Interlocked.Read(ref _modelFilesUploaded);
    public IReadOnlyDictionary<string, long> StatusCounts =>
        new SortedDictionary<string, long>(_statusCounts.ToDictionary(p => p.Key.ToString(System.Globalization.CultureInfo.InvariantCulture), p => p.Value));

    public void CountIteration() => Interlocked.Increment(ref _iterations);
    public void CountModelFileMutation() => Interlocked.Increment(ref _modelFileMutations);
    public void CountRequestMutation() => Interlocked.Increment(ref _requestMutations);
    public void CountTrainingRequestMutation() => Interlocked.Increment(ref _trainingRequestMutations);
    public void CountModelFileAccepted() => Interlocked.Increment(ref _modelFilesAcceptedInProcess);
    public void CountModelFileUploaded() => Interlocked.Increment(ref _modelFilesUploaded);

    public void CountResponse(int status)
    {
        Interlocked.Increment(ref _httpRequests);
        _statusCounts.AddOrUpdate(status, 1, (_, n) => n + 1);
    }

    /// <summary>A request that got no status (timeout, dropped connection) still counts as sent.</summary>
    public void CountUnansweredRequest() => Interlocked.Increment(ref _httpRequests);
}

/// <summary>Failures of a run and their reproducers (the input that caused each, and what the service answered).</summary>
public sealed class FailureLog(string directory, int seed, int maxReproducers = 200)
{
    private readonly ConcurrentQueue<FuzzFailure> _failures = new();
    private int _written;

    public string Directory { get; } = directory;
    public IReadOnlyCollection<FuzzFailure> Failures => _failures;
    public int Count(FailureKind kind) => _failures.Count(f => f.Kind == kind);

    /// <summary>Records a failure; writes <paramref name="input"/> and <paramref name="description"/> beside it (up to a cap).</summary>
    public void Record(FailureKind kind, int iteration, string description, byte[]? input)
    {
        string? path = null;
        if (Interlocked.Increment(ref _written) <= maxReproducers)
        {
            System.IO.Directory.CreateDirectory(Directory);
            string stem = Path.Combine(Directory, $"seed{seed}-iteration{iteration}-{kind}");
            if (input is not null)
            {
                path = stem + ".bin";
                File.WriteAllBytes(path, input);
            }
            File.WriteAllText(stem + ".txt",
                $"kind: {kind}\nseed: {seed}\niteration: {iteration}\nreplay: dotnet run -c Release --project tests/GruService.Fuzz -- --seed {seed} --only-iteration {iteration}\ninput: {path ?? "(none)"}\n\n{description}\n",
                Encoding.UTF8);
            path ??= stem + ".txt";
        }
        _failures.Enqueue(new FuzzFailure(kind, iteration, description, path));
    }
}

/// <summary>The one-line JSON summary a run prints.</summary>
public sealed record FuzzSummary(
    long Iterations,
    long ModelFileMutations,
    long RequestMutations,
    long TrainingRequestMutations,
    long ModelFilesAcceptedInProcess,
    long ModelFilesUploaded,
    long HttpRequests,
    IReadOnlyDictionary<string, long> StatusCounts,
    int Crashes,
    int ServerErrors,
    int ServerErrorsFromNonFiniteOutputs,
    int Hangs,
    int ContractViolations,
    double PeakWorkingSetMb,
    double ManagedHeapStartMb,
    double ManagedHeapEndMb,
    double ManagedHeapFirstQuarterMb,
    double ManagedHeapLastQuarterMb,
    bool MemoryBounded,
    double Seconds,
    bool StoppedByTimeLimit,
    int Seed,
    string? ReproducerDirectory)
{
    public bool Passed => Crashes == 0 && ServerErrors - (NonFiniteOutputsTolerated ? ServerErrorsFromNonFiniteOutputs : 0) == 0
        && Hangs == 0 && ContractViolations == 0 && MemoryBounded;

    /// <summary>Whether server errors from non-finite outputs were allowed (<see cref="FuzzSettings.TolerateNonFiniteOutputServerErrors"/>).</summary>
    public bool NonFiniteOutputsTolerated { get; init; }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DictionaryKeyPolicy = null,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    [JsonIgnore]
    public IReadOnlyList<FuzzFailure> Failures { get; init; } = [];
}
