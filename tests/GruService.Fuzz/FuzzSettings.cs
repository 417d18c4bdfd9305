using System.Globalization;

namespace GruService.Fuzz;

/// <summary>What the fuzzer mutates.</summary>
public enum FuzzTarget
{
    /// <summary>Model files and JSON requests, alternating iteration by iteration.</summary>
    All,
    ModelFiles,
    Requests,
}

/// <summary>One fuzzing run's settings; <see cref="Parse"/> reads them from the command line.</summary>
public sealed record FuzzSettings
{
    public int Iterations { get; init; } = 10_000;

    /// <summary>Every iteration's input derives from this and the iteration number alone, so any one can be replayed.</summary>
    public int Seed { get; init; } = 1;

    public FuzzTarget Target { get; init; } = FuzzTarget.All;

    /// <summary>Stop early (successfully) after this long; null runs every iteration.</summary>
    public TimeSpan? TimeLimit { get; init; }

    /// <summary>An iteration that takes longer is a hang: the run stops and reports it.</summary>
    public TimeSpan HangBound { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Fraction of rejected model-file mutations also uploaded over HTTP (every accepted one is, and every one is
    /// parsed in-process by the same ModelFile.Read the upload endpoint calls).
    /// </summary>
    public double ModelFileHttpFraction { get; init; } = 0.1;

    /// <summary>Fraction of request iterations that fuzz the training-job request rather than forecast/classify.</summary>
    public double TrainingRequestFraction { get; init; } = 0.05;

    /// <summary>Managed heap growth (after a full collection) from the start of the run allowed at its end.</summary>
    public long MemoryBoundBytes { get; init; } = 200L * 1024 * 1024;

    /// <summary>
    /// Pass a run whose only server errors are answers the model itself cannot give in JSON (NaN or infinite outputs
    /// from extreme but finite weights or inputs). Off by default: they are 500s, and the full run reports them.
    /// </summary>
    public bool TolerateNonFiniteOutputServerErrors { get; init; }

    /// <summary>Where reproducers are written; a fresh temporary directory when null.</summary>
    public string? OutputDirectory { get; init; }

    /// <summary>Run this one iteration only (after the usual set-up), to reproduce a failure.</summary>
    public int? OnlyIteration { get; init; }

    public const string Usage =
        """
        GruService.Fuzz: random mutations of valid model files and JSON requests against the real service on a loopback port.

          --iterations N             mutations in all (default 10000); with --target all, half model files and half requests
          --seed S                   the run's seed (default 1); the same seed gives the same inputs
          --target T                 all | model-files | requests (default all)
          --time-limit-seconds N     stop early, successfully, after N seconds
          --hang-seconds N           an iteration taking longer is a hang (default 5)
          --model-file-http-fraction F  fraction of rejected model-file mutations also uploaded over HTTP (default 0.1)
          --memory-bound-mb N        managed heap growth allowed over the run (default 200)
          --tolerate-non-finite-outputs  pass despite 500s whose cause is a NaN/infinite model output
          --output DIR               where reproducers go (default: a new temporary directory)
          --only-iteration I         replay one iteration of this seed
        """;

    /// <exception cref="ArgumentException">An unknown option or a bad value, with the usage.</exception>
    public static FuzzSettings Parse(IReadOnlyList<string> args)
    {
        var settings = new FuzzSettings();
        for (int i = 0; i < args.Count; i++)
        {
            string option = args[i];
            if (option == "--tolerate-non-finite-outputs")
            {
                settings = settings with { TolerateNonFiniteOutputServerErrors = true };
                continue;
            }
            string Value() => i + 1 < args.Count ? args[++i] : throw new ArgumentException($"{option} needs a value.\n\n{Usage}");
            settings = option switch
            {
                "--iterations" => settings with { Iterations = PositiveInt(option, Value()) },
                "--seed" => settings with { Seed = int.Parse(Value(), CultureInfo.InvariantCulture) },
                "--target" => settings with { Target = ParseTarget(Value()) },
                "--time-limit-seconds" => settings with { TimeLimit = TimeSpan.FromSeconds(PositiveInt(option, Value())) },
                "--hang-seconds" => settings with { HangBound = TimeSpan.FromSeconds(PositiveInt(option, Value())) },
                "--model-file-http-fraction" => settings with { ModelFileHttpFraction = Fraction(option, Value()) },
                "--memory-bound-mb" => settings with { MemoryBoundBytes = PositiveInt(option, Value()) * 1024L * 1024 },
                "--output" => settings with { OutputDirectory = Value() },
                "--only-iteration" => settings with { OnlyIteration = int.Parse(Value(), CultureInfo.InvariantCulture) },
                _ => throw new ArgumentException($"Unknown option '{option}'.\n\n{Usage}"),
            };
        }
        return settings;
    }

    private static FuzzTarget ParseTarget(string value) => value switch
    {
        "all" => FuzzTarget.All,
        "model-files" => FuzzTarget.ModelFiles,
        "requests" => FuzzTarget.Requests,
        _ => throw new ArgumentException($"--target is '{value}'; it must be all, model-files or requests."),
    };

    private static int PositiveInt(string option, string value) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int n) && n > 0
            ? n
            : throw new ArgumentException($"{option} is '{value}'; it must be a positive integer.");

    private static double Fraction(string option, string value) =>
        double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double f) && f is >= 0 and <= 1
            ? f
            : throw new ArgumentException($"{option} is '{value}'; it must be between 0 and 1.");
}
