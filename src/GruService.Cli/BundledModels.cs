using static GruService.Cli.CommandLine;
using System.Globalization;
using System.Text.Json;
using GruService.Engine;
using GruService.Engine.ModelFiles;
using GruService.Engine.Training;
using GruService.Engine.Training.Data;

namespace GruService.Cli;

/// <summary>
/// Trains the service's two bundled default models from the data committed beside them, with fixed seeds: the same
/// thread count gives the same files bit for bit.
/// <list type="bullet">
/// <item>ett-oil-temperature: the next 24 hours of transformer oil temperature from the last 48 (ETTh1, column OT).</item>
/// <item>fashion-mnist: the clothing class of a 28×28 Fashion-MNIST image read as 28 rows of 28 pixels.</item>
/// </list>
/// </summary>
public static class BundledModels
{
    public const string ForecasterName = "ett-oil-temperature";
    public const string ClassifierName = "fashion-mnist";

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    public static int Run(string[] args)
    {
        string data = Option(args, "--data") ?? Path.Combine("models", "data");
        string output = Option(args, "--out") ?? "models";
        int threads = Int(args, "--threads", 2);
        Directory.CreateDirectory(output);

        Write(TrainForecaster(Path.Combine(data, "ETTh1.csv"), threads), Path.Combine(output, ForecasterName + ".safetensors"));
        Write(TrainClassifier(Option(args, "--fashion-mnist") ?? FashionMnist.DefaultDirectory, threads), Path.Combine(output, ClassifierName + ".safetensors"));
        return 0;
    }

    private static GruModel TrainForecaster(string csv, int threads)
    {
        const int window = 48, horizon = 24;
        // The standard ETTh1 split: 12 months train, 4 validation, 4 test; windows may look back across a boundary.
        const int validationStart = 8640, testStart = 11520, end = 14400;
        (string[] columns, float[] rows) = ReadNumericCsv(csv);
        var set = new TimeSeriesSet(columns, [rows]);
        var windows = new ForecastWindows(set, new ForecastWindowOptions
        {
            Window = window,
            Horizon = horizon,
            InputColumns = ["OT"],
            TargetColumns = ["OT"],
            Split = ForecastSplit.AtRows(validationStart, testStart, end),
        });
        var architecture = new GruArchitecture(HiddenSize: 32);
        var settings = new TrainingSettings
        {
            Epochs = 30, BatchSize = 64, LearningRate = 3e-3f, Schedule = Engine.Training.Optimization.ScheduleKind.Cosine,
            Patience = 6, Seed = 1, Threads = threads,
        };
        TrainingResult result = new GruTrainer(new ForecastProblem(windows, seasonLength: 24), architecture, settings).Train(
            progress: p => { if (p.EpochCompleted) Console.WriteLine($"{ForecasterName} epoch {p.Epoch}: train {p.TrainLoss:F4} validation {p.ValidationLoss:F4}"); });

        int ot = Array.IndexOf(columns, "OT");
        float[] example = [.. Enumerable.Range(testStart - window, window).Select(r => MathF.Round(rows[r * columns.Length + ot], 3))];
        var metadata = new Dictionary<string, object?>
        {
            ["description"] = "Transformer oil temperature (°C) for the next 24 hours from the last 48 hourly readings.",
            ["source"] = "ETTh1, Electricity Transformer Temperature hourly (Zhou et al., Informer, AAAI 2021), 2016-07-01 to 2018-06-26",
            [GruConfig.FeatureNamesKey] = new[] { "OT" },
            [GruConfig.TargetNamesKey] = new[] { "OT" },
            ["window"] = window,
            [Bundled.ExampleInputKey] = example,
            ["training"] = Summary(result, architecture, settings, "models/data/ETTh1.csv rows 0-8639 train, 8640-11519 validation, 11520-14399 test"),
        };
        return WithMetadata(result, metadata);
    }

    private static GruModel TrainClassifier(string directory, int threads)
    {
        FashionMnist train = FashionMnist.Load(directory, "train"), test = FashionMnist.Load(directory, "t10k");
        string[] labels = [.. train.Labels.Select(l => FashionMnist.ClassNames[l])];
        // Classes in the dataset's own order (0 = T-shirt/top ... 9 = Ankle boot), not alphabetical.
        var set = new SequenceSet(FashionMnist.Side, train.Images, labels, FashionMnist.ClassNames);
        SequenceSplit split = set.Split(0.1, seed: 1);
        var architecture = new GruArchitecture(HiddenSize: 64);
        var settings = new TrainingSettings
        {
            Epochs = 8, BatchSize = 64, LearningRate = 2e-3f, Schedule = Engine.Training.Optimization.ScheduleKind.Cosine,
            Patience = 3, Seed = 1, Threads = threads,
        };
        TrainingResult result = new GruTrainer(new ClassificationProblem(split), architecture, settings).Train(
            progress: p => { if (p.EpochCompleted) Console.WriteLine($"{ClassifierName} epoch {p.Epoch}: train {p.TrainLoss:F4} validation {p.ValidationLoss:F4} accuracy {p.ValidationMetric:F4} ({p.Elapsed.TotalSeconds:F0} s)"); });

        EvaluationResult testResult = ClassifyTestSet(result.Model, test);
        var metadata = new Dictionary<string, object?>
        {
            ["description"] = "Fashion-MNIST clothing class of a 28×28 grey-scale image read as 28 rows (time steps) of 28 pixels (0–255), top row first.",
            ["source"] = "Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017), Debian package dataset-fashion-mnist",
            ["sequence_length"] = FashionMnist.Side,
            [Bundled.ExampleInputKey] = Rows(test.Images[0]),
            ["example_label"] = FashionMnist.ClassNames[test.Labels[0]],
            ["training"] = Summary(result with { Test = testResult }, architecture, settings,
                "dataset-fashion-mnist: 60,000 training images (90/10 stratified split, seed 1); test on the 10,000 t10k images"),
        };
        return WithMetadata(result with { Test = testResult }, metadata);
    }

    /// <summary>Accuracy of the served model itself (GruModel.Predict) on the test images.</summary>
    private static EvaluationResult ClassifyTestSet(GruModel model, FashionMnist test)
    {
        var metrics = new Engine.Training.Metrics.ClassificationMetrics(FashionMnist.ClassNames);
        const int batch = 500;
        var outputs = new float[batch * model.OutputsPerSequence];
        for (int start = 0; start < test.Images.Length; start += batch)
        {
            int n = Math.Min(batch, test.Images.Length - start);
            float[] inputs = [.. test.Images.Skip(start).Take(n).SelectMany(i => i)];
            int[] lengths = [.. Enumerable.Repeat(FashionMnist.Side, n)];
            model.Predict(inputs, lengths, outputs.AsSpan(0, n * model.OutputsPerSequence));
            metrics.AddScores(outputs.AsSpan(0, n * model.OutputsPerSequence), test.Labels.AsSpan(start, n));
        }
        return new EvaluationResult("test", metrics.Count, double.NaN, Accuracy: metrics.Accuracy, MacroF1: metrics.MacroF1,
            Classes: metrics.Classes, ConfusionMatrix: metrics.ConfusionMatrix());
    }

    private static int[][] Rows(float[] image) =>
        [.. Enumerable.Range(0, FashionMnist.Side).Select(r => image.AsSpan(r * FashionMnist.Side, FashionMnist.Side).ToArray().Select(v => (int)v).ToArray())];

    private static object Summary(TrainingResult result, GruArchitecture architecture, TrainingSettings settings, string data) => new
    {
        data,
        command = "dotnet run -c Release --project src/GruService.Cli -- train-bundled",
        architecture,
        hyperparameters = new { settings.Epochs, settings.BatchSize, settings.LearningRate, optimizer = settings.Optimizer.ToString(), schedule = settings.Schedule.ToString(), settings.ClipNorm, settings.Patience, settings.Seed, settings.Threads },
        epochs_run = result.History.Count,
        best_epoch = result.BestEpoch + 1,
        seconds = Math.Round(result.Seconds, 1),
        validation = Metrics(result.Validation),
        test = Metrics(result.Test),
    };

    private static object? Metrics(EvaluationResult? e) => e is null ? null : new
    {
        e.Examples,
        mse = Round(e.Mse), mae = Round(e.Mae), mase = Round(e.Mase), accuracy = Round(e.Accuracy), macro_f1 = Round(e.MacroF1),
        classes = e.Classes, confusion_matrix = e.ConfusionMatrix,
    };

    private static double? Round(double? value) => value is { } v ? Math.Round(v, 4) : null;

    private static GruModel WithMetadata(TrainingResult result, Dictionary<string, object?> metadata)
    {
        GruModel model = result.Model;
        var extra = metadata.ToDictionary(kv => kv.Key, kv => JsonSerializer.SerializeToElement(kv.Value, Json));
        GruConfig config = model.Config with { Extra = extra };
        Console.WriteLine($"validation: {JsonSerializer.Serialize(Metrics(result.Validation), Json)}");
        if (result.Test is not null) Console.WriteLine($"test: {JsonSerializer.Serialize(Metrics(result.Test), Json)}");
        return new GruModel(config, model.Directions, model.HeadWeight, model.HeadBias);
    }

    private static void Write(GruModel model, string path)
    {
        byte[] file = ModelFile.Write(model);
        ModelFile.Read(file, new ModelLimits()); // what the service will accept
        File.WriteAllBytes(path, file);
        Console.WriteLine($"wrote {path} ({file.Length} bytes, {model.ParameterCount} parameters)");
    }

    /// <summary>The numeric columns of a CSV whose first column is a timestamp, row-major.</summary>
    private static (string[] Columns, float[] Rows) ReadNumericCsv(string path)
    {
        string[][] table = ReadCsv(path, out string[] header);
        string[] columns = header[1..];
        var rows = new float[table.Length * columns.Length];
        for (int r = 0; r < table.Length; r++)
            for (int c = 0; c < columns.Length; c++)
                rows[r * columns.Length + c] = float.Parse(table[r][c + 1], CultureInfo.InvariantCulture);
        return (columns, rows);
    }

    /// <summary>The two committed files have no quoted fields, so a plain split is exact for them.</summary>
    private static string[][] ReadCsv(string path, out string[] header)
    {
        string[] lines = [.. File.ReadLines(path).Where(l => l.Length > 0)];
        header = lines[0].Split(',');
        return [.. lines.Skip(1).Select(l => l.Split(','))];
    }

}

/// <summary>Config keys the service reads from bundled models.</summary>
internal static class Bundled
{
    /// <summary>A real input window, used as the request example in the OpenAPI document.</summary>
    public const string ExampleInputKey = "example_input";
}
