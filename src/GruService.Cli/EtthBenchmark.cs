using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using GruService.Engine;
using GruService.Engine.ModelFiles;
using GruService.Engine.Training;
using GruService.Engine.Training.Data;
using GruService.Engine.Training.Optimization;

namespace GruService.Cli;

/// <summary>
/// The ETTh1 long-horizon benchmark under the standard protocol (../shared/datasets/README.md): all 7 features,
/// lookback 96, horizon 96; train rows 0–8639, validation 8640–11519, test 11520–14399, validation and test windows
/// reaching back across their boundary; every feature standardised with the training rows' statistics; MSE and MAE
/// over every window, horizon step and feature on standardised values. The model is trained by the engine's trainer
/// and the reported figures are the served model's: <see cref="GruModel.Predict"/> on raw windows, its forecasts and
/// the true values then standardised with the training statistics.
/// </summary>
/// <remarks>
/// The defaults are the configuration chosen for the benchmark: a channel-independent GRU (hidden 128) reading
/// segments of 24 steps, with "last" window normalisation, trained with MAE loss, AdamW 2e-3 (cosine), batches of 256,
/// early stopping after 5 epochs without a better validation loss, seed 1. Options for experiments: --data PATH,
/// --out FILE, --threads N, --channels independent|joint, --segment W, --window-normalization none|mean|last,
/// --loss mae|mse|huber, --hidden H, --layers N, --dropout P, --epochs N, --batch N, --lr R, --weight-decay D,
/// --schedule cosine|constant, --patience N, --clip C, --seed S, --stride S (training windows only; the scores cover
/// every window).
/// </remarks>
public static class EtthBenchmark
{
    private const int Lookback = 96, Horizon = 96;
    private const int ValidationStart = 8640, TestStart = 11520, End = 14400;

    public static int Run(string[] args)
    {
        var clock = Stopwatch.StartNew();
        var options = new Options(args);
        string csv = options.Text("--data", Path.Combine("models", "data", "ETTh1.csv"));
        string output = options.Text("--out", "etth1-gru.safetensors");
        int threads = options.Int("--threads", 2);
        var normalization = options.Text("--window-normalization", "last") switch
        {
            "none" => WindowNormalization.None,
            "mean" => WindowNormalization.Mean,
            "last" => WindowNormalization.Last,
            var other => throw new ArgumentException($"--window-normalization is '{other}'; expected none, mean or last."),
        };
        var layout = new ForecastInputLayout(
            ChannelIndependent: options.Text("--channels", "independent") switch
            {
                "independent" => true,
                "joint" => false,
                var other => throw new ArgumentException($"--channels is '{other}'; expected independent or joint."),
            },
            SegmentLength: options.Int("--segment", 24));
        var loss = options.Text("--loss", "mae") switch
        {
            "mse" => ForecastLoss.MeanSquaredError,
            "huber" => ForecastLoss.Huber,
            "mae" => ForecastLoss.MeanAbsoluteError,
            var other => throw new ArgumentException($"--loss is '{other}'; expected mse, huber or mae."),
        };
        var architecture = new GruArchitecture(HiddenSize: options.Int("--hidden", 128), NumLayers: options.Int("--layers", 1),
            Dropout: options.Double("--dropout", 0));
        var settings = new TrainingSettings
        {
            Epochs = options.Int("--epochs", 30),
            BatchSize = options.Int("--batch", 256),
            LearningRate = (float)options.Double("--lr", 2e-3),
            WeightDecay = (float)options.Double("--weight-decay", 0),
            Schedule = options.Text("--schedule", "cosine") switch
            {
                "cosine" => ScheduleKind.Cosine,
                "constant" => ScheduleKind.Constant,
                var other => throw new ArgumentException($"--schedule is '{other}'; expected cosine or constant."),
            },
            Patience = options.Int("--patience", 5),
            ClipNorm = (float)options.Double("--clip", 1),
            Seed = (ulong)options.Int("--seed", 1),
            Threads = threads,
        };
        int stride = options.Int("--stride", 1);
        options.RefuseUnknown();

        (string[] columns, float[] rows) = ReadNumericCsv(csv);
        var data = new TimeSeriesSet(columns, [rows]);
        var protocol = new ForecastWindowOptions
        {
            Window = Lookback,
            Horizon = Horizon,
            Split = ForecastSplit.AtRows(ValidationStart, TestStart, End),
            WindowNormalization = normalization,
        };
        // Training (and its early-stopping validation) may skip windows; the scores cover every window.
        var windows = new ForecastWindows(data, protocol with { Stride = stride });
        var every = new ForecastWindows(data, protocol);
        var problem = new ForecastProblem(windows, loss, layout: layout);

        Console.WriteLine($"ETTh1 {csv}: {columns.Length} features, lookback {Lookback}, horizon {Horizon}; windows: " +
            $"{every.Train.Count} train, {every.Validation.Count} validation, {every.Test.Count} test; training on {EveryWindow(stride)} " +
            $"({windows.Train.Count} train, {windows.Validation.Count} validation)");
        Console.WriteLine($"model: GRU hidden {architecture.HiddenSize}, {architecture.NumLayers} layer(s), " +
            $"{(layout.ChannelIndependent ? "channel-independent" : "joint channels")}, segment length {layout.SegmentLength}, " +
            $"window normalisation {normalization.ToString().ToLowerInvariant()}, dropout {architecture.Dropout}");
        Console.WriteLine($"training: loss {loss}, AdamW lr {settings.LearningRate} ({settings.Schedule}), weight decay {settings.WeightDecay}, " +
            $"batch {settings.BatchSize}, clip {settings.ClipNorm}, up to {settings.Epochs} epochs, patience {settings.Patience}, seed {settings.Seed}, threads {threads}");

        var metadata = new Dictionary<string, JsonElement>
        {
            ["description"] = JsonSerializer.SerializeToElement("ETTh1: the next 96 hours of all 7 features from the last 96 hourly readings."),
            [GruConfig.FeatureNamesKey] = JsonSerializer.SerializeToElement(columns),
            ["source"] = JsonSerializer.SerializeToElement("ETTh1, Electricity Transformer Temperature hourly (Zhou et al., Informer, AAAI 2021)"),
            // A real request (the 96 hours before the test part), the service's OpenAPI example: any length it shows
            // must be a multiple of the segment length.
            ["example_input"] = JsonSerializer.SerializeToElement(Enumerable.Range(TestStart - Lookback, Lookback)
                .Select(r => rows.AsSpan(r * columns.Length, columns.Length).ToArray().Select(v => MathF.Round(v, 3)).ToArray()).ToArray()),
            ["command"] = JsonSerializer.SerializeToElement("dotnet run -c Release --project src/GruService.Cli -- benchmark-etth1 " + string.Join(' ', args)),
        };
        TrainingResult result = new GruTrainer(problem, architecture, settings).Train(metadata, progress: p =>
        {
            if (p.EpochCompleted)
                Console.WriteLine($"  epoch {p.Epoch}/{p.Epochs}: train loss {p.TrainLoss:F4}, validation loss {p.ValidationLoss:F4} ({p.Elapsed.TotalSeconds:F0} s)");
        });
        GruModel model = result.Model;

        byte[] file = ModelFile.Write(model);
        GruModel served = ModelFile.Read(file, new ModelLimits()); // what the service loads
        File.WriteAllBytes(output, file);

        Scores validation = Score(served, every, every.Validation), test = Score(served, every, every.Test);
        Console.WriteLine($"epochs run: {result.History.Count} (best {result.BestEpoch + 1}{(result.StoppedEarly ? ", stopped early" : "")}); " +
            $"training {result.Seconds:F1} s; trainer sustained {result.TrainingGflops:F2} GFLOP/s");
        if (stride == 1) // the trainer then evaluated the same windows: its figures must be the served model's
            Console.WriteLine($"original units: validation MSE {validation.OriginalMse:F5} served, {result.Validation?.Mse:F5} trainer; " +
                $"test MSE {test.OriginalMse:F5} served, {result.Test?.Mse:F5} trainer");
        Console.WriteLine($"served model, standardised: validation MSE {validation.Mse:F4} MAE {validation.Mae:F4}; test MSE {test.Mse:F4} MAE {test.Mae:F4}");
        Console.WriteLine($"wrote {output} ({file.Length} bytes, {model.ParameterCount} parameters); wall time {clock.Elapsed.TotalSeconds:F1} s");
        return 0;
    }

    /// <summary>Errors over every value of a part: MSE and MAE on standardised values, and MSE in original units.</summary>
    private readonly record struct Scores(double Mse, double Mae, double OriginalMse);

    /// <summary>
    /// The served model's errors over every window of a part, horizon step and feature, on values standardised with
    /// the training statistics: the model gets the raw rows, as a client would send them.
    /// </summary>
    private static Scores Score(GruModel model, ForecastWindows windows, ForecastWindowSet part)
    {
        ReadOnlySpan<float> rows = windows.Data.Rows(0);
        int features = windows.Data.ColumnCount;
        float[] mean = windows.TargetMean!, std = windows.TargetStd!;
        const int batch = 256;
        var inputs = new float[batch * Lookback * features];
        var forecasts = new float[batch * model.OutputsPerSequence];
        int[] lengths = [.. Enumerable.Repeat(Lookback, batch)];
        double squared = 0, absolute = 0, originalSquared = 0;
        long count = 0;
        for (int first = 0; first < part.Count; first += batch)
        {
            int n = Math.Min(batch, part.Count - first);
            for (int i = 0; i < n; i++)
                rows.Slice(part[first + i].Start * features, Lookback * features).CopyTo(inputs.AsSpan(i * Lookback * features));
            model.Predict(inputs.AsSpan(0, n * Lookback * features), lengths.AsSpan(0, n), forecasts.AsSpan(0, n * model.OutputsPerSequence));
            for (int i = 0; i < n; i++)
            {
                ReadOnlySpan<float> truth = rows.Slice((part[first + i].Start + Lookback) * features, Horizon * features);
                ReadOnlySpan<float> forecast = forecasts.AsSpan(i * Horizon * features, Horizon * features);
                for (int v = 0; v < truth.Length; v++)
                {
                    int c = v % features;
                    double error = ((double)forecast[v] - mean[c]) / std[c] - ((double)truth[v] - mean[c]) / std[c];
                    double original = (double)forecast[v] - truth[v];
                    squared += error * error;
                    absolute += Math.Abs(error);
                    originalSquared += original * original;
                }
                count += truth.Length;
            }
        }
        return new Scores(squared / count, absolute / count, originalSquared / count);
    }

    private static string EveryWindow(int stride) => stride == 1 ? "every window" : $"one window in {stride}";

    /// <summary>The numeric columns of a CSV whose first column is a timestamp, row-major (no quoted fields).</summary>
    private static (string[] Columns, float[] Rows) ReadNumericCsv(string path)
    {
        string[] lines = [.. File.ReadLines(path).Where(l => l.Length > 0)];
        string[] columns = lines[0].Split(',')[1..];
        var rows = new float[(lines.Length - 1) * columns.Length];
        for (int r = 1; r < lines.Length; r++)
        {
            string[] fields = lines[r].Split(',');
            for (int c = 0; c < columns.Length; c++)
                rows[(r - 1) * columns.Length + c] = float.Parse(fields[c + 1], CultureInfo.InvariantCulture);
        }
        return (columns, rows);
    }

    /// <summary>"--name value" options; each read marks its name as known.</summary>
    private sealed class Options(string[] args)
    {
        private readonly HashSet<string> _known = [];

        public string Text(string name, string fallback)
        {
            _known.Add(name);
            int i = Array.IndexOf(args, name);
            if (i < 0) return fallback;
            return i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"{name} needs a value.");
        }

        public int Int(string name, int fallback) => int.Parse(Text(name, fallback.ToString(CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

        public double Double(string name, double fallback) => double.Parse(Text(name, fallback.ToString("R", CultureInfo.InvariantCulture)), CultureInfo.InvariantCulture);

        public void RefuseUnknown()
        {
            for (int i = 0; i < args.Length; i += 2)
                if (!_known.Contains(args[i])) throw new ArgumentException($"Unknown option '{args[i]}'.");
        }
    }
}
