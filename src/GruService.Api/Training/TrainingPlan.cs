using System.Text.Json;
using GruService.Api.Datasets;
using GruService.Api.Models;
using GruService.Engine;
using GruService.Engine.ModelFiles;
using GruService.Engine.Training;
using GruService.Engine.Training.Data;
using GruService.Engine.Training.Optimization;

namespace GruService.Api.Training;

/// <summary>A request with every default filled in and every value checked; what a job runs.</summary>
public sealed record TrainingPlan(
    string Model,
    GruTask Task,
    string? Dataset,
    JsonElement? Data,
    string? ValidationDataset,
    double ValidationSplit,
    int Window,
    int Horizon,
    IReadOnlyList<string>? Inputs,
    IReadOnlyList<string>? Targets,
    int Stride,
    GruArchitecture Architecture,
    TrainingSettings Settings,
    ForecastLoss Loss,
    IReadOnlyDictionary<string, double>? ClassWeights,
    int SeasonLength,
    WindowNormalization WindowNormalization,
    ForecastInputLayout Layout,
    bool Activate)
{
    /// <summary>
    /// Checks a request against the limits and the stored datasets. Throws <see cref="TrainingRequestException"/>
    /// saying exactly what is wrong.
    /// </summary>
    public static async Task<TrainingPlan> CreateAsync(TrainingJobRequest request, IDatasetStore datasets, ModelLimits limits, int threads,
        CancellationToken cancellationToken)
    {
        DatasetRecord? dataset = request.Dataset is null ? null : await datasets.GetAsync(request.Dataset, cancellationToken);
        DatasetRecord? validation = request.ValidationDataset is null ? null : await datasets.GetAsync(request.ValidationDataset, cancellationToken);
        return Create(request, dataset, validation, limits, threads);
    }

    /// <summary>The checks of <see cref="CreateAsync"/>, given the stored records of the request's datasets (null where there is none).</summary>
    private static TrainingPlan Create(TrainingJobRequest request, DatasetRecord? dataset, DatasetRecord? validation, ModelLimits limits, int threads)
    {
        if (string.IsNullOrEmpty(request.Model)) throw new TrainingRequestException("'model' is required: the name the trained model is published as.");
        if (!ModelName.IsValid(request.Model)) throw new TrainingRequestException($"'model' is '{request.Model}', not a valid model name: {ModelName.Rule}.");
        GruTask? task = GruTaskNames.Parse(request.Task);
        if (task is null) throw new TrainingRequestException($"'task' is {(request.Task is null ? "missing" : $"'{request.Task}'")}; it must be 'forecast' or 'classify'.");
        bool forecast = task == GruTask.Forecast;

        bool hasData = request.Data is { ValueKind: not JsonValueKind.Null and not JsonValueKind.Undefined };
        if ((request.Dataset is null) == !hasData)
            throw new TrainingRequestException("Give the training data as exactly one of 'dataset' (an id from POST /v1/datasets) or 'data' (inline).");
        string expectedKind = forecast ? DatasetRecord.TimeSeriesKind : DatasetRecord.SequencesKind;
        if (request.Dataset is not null)
        {
            if (dataset is null) throw new TrainingRequestException($"There is no dataset '{request.Dataset}'; GET /v1/datasets lists them.");
            if (dataset.Kind != expectedKind)
                throw new TrainingRequestException($"Dataset '{request.Dataset}' holds {dataset.Kind.Replace('_', ' ')}; a {request.Task} job needs {expectedKind.Replace('_', ' ')} ({(forecast ? "a CSV upload" : "an NDJSON upload")}).");
        }
        if (request.ValidationDataset is not null)
        {
            if (forecast) throw new TrainingRequestException("'validation_dataset' is for classify jobs; a forecast job holds out the last part of each series with 'validation_split'.");
            if (validation is null) throw new TrainingRequestException($"There is no dataset '{request.ValidationDataset}' (validation_dataset).");
            if (validation.Kind != expectedKind) throw new TrainingRequestException($"validation_dataset '{request.ValidationDataset}' holds {validation.Kind.Replace('_', ' ')}, not labelled sequences.");
            if (request.ValidationSplit is not null) throw new TrainingRequestException("Give either 'validation_dataset' or 'validation_split', not both.");
        }
        double split = request.ValidationSplit ?? (request.ValidationDataset is null ? 0.2 : 0);
        if (!(split >= 0 && split < 1)) throw new TrainingRequestException($"'validation_split' is {split}; it must be at least 0 and below 1.");

        int window = request.Window ?? 48, horizon = request.Horizon ?? 12, stride = request.Stride ?? 1;
        if (forecast)
        {
            if (window is < 1 or > 100_000) throw new TrainingRequestException($"'window' is {window}; it must be between 1 and 100000.");
            if (horizon < 1 || horizon > limits.MaxHorizon) throw new TrainingRequestException($"'horizon' is {horizon}; it must be between 1 and {limits.MaxHorizon}.");
            if (stride < 1) throw new TrainingRequestException($"'stride' is {stride}; it must be at least 1.");
            foreach ((string key, IReadOnlyList<string>? columns) in new[] { ("inputs", request.Inputs), ("targets", request.Targets) })
            {
                if (columns is { Count: 0 }) throw new TrainingRequestException($"'{key}' is empty; leave it out to use every column.");
                if (columns?.GroupBy(c => c, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1) is { } repeated)
                    throw new TrainingRequestException($"'{key}' names column '{repeated.Key}' more than once.");
                if (dataset is not null && columns?.FirstOrDefault(c => !dataset.Features.Contains(c)) is { } unknown)
                    throw new TrainingRequestException($"'{key}' names column '{unknown}', which dataset '{dataset.Id}' does not have; its columns are {string.Join(", ", dataset.Features)}.");
            }
            // The exact test (which rows the validation part takes) runs with the data; a dataset too short for any
            // window fails it whatever the split, and its record says so now.
            if (dataset?.Summary.Series is { Count: > 0 } series && series.Max(s => s.Length) < (long)window + horizon)
                throw new TrainingRequestException($"No training window fits: a window needs window + horizon = {window + horizon} rows, and the longest series of dataset '{dataset.Id}' has {series.Max(s => s.Length)}.");
        }
        else if (dataset?.Summary.LabelCounts is { Count: 1 } onlyLabel)
        {
            throw new TrainingRequestException($"Every sequence of dataset '{dataset.Id}' has the label '{onlyLabel.Keys.Single()}'; a classifier needs at least two labels.");
        }
        else if (request.Window is not null || request.Horizon is not null || request.Inputs is not null || request.Targets is not null || request.Stride is not null)
        {
            throw new TrainingRequestException("'window', 'horizon', 'inputs', 'targets' and 'stride' are for forecast jobs; a classify job reads whole sequences.");
        }
        // The records of both datasets say what LoadSequencesAsync would find when the job runs (it checks again, in
        // case the data differs); here the job is refused before it is queued.
        if (!forecast && dataset is not null && validation is not null)
        {
            if (validation.Features.Count != dataset.Features.Count)
                throw new TrainingRequestException(ValidationWidthMismatch(validation.Features.Count, dataset.Features.Count));
            if (dataset.Summary.LabelCounts is { } trainLabels && validation.Summary.LabelCounts?.Keys.FirstOrDefault(l => !trainLabels.ContainsKey(l)) is { } unseen)
                throw new TrainingRequestException(UnseenValidationLabel(unseen));
        }

        ArchitectureRequest a = request.Architecture ?? new();
        var architecture = new GruArchitecture(a.HiddenSize ?? 64, a.NumLayers ?? 1, a.Bidirectional ?? false, a.LinearBeforeReset ?? true, a.Dropout ?? 0);
        if (architecture.HiddenSize < 1 || architecture.HiddenSize > limits.MaxHiddenSize)
            throw new TrainingRequestException($"'architecture.hidden_size' is {architecture.HiddenSize}; it must be between 1 and {limits.MaxHiddenSize}.");
        if (architecture.NumLayers < 1 || architecture.NumLayers > limits.MaxLayers)
            throw new TrainingRequestException($"'architecture.num_layers' is {architecture.NumLayers}; it must be between 1 and {limits.MaxLayers}.");
        var layout = new ForecastInputLayout(a.ChannelIndependent ?? false, a.SegmentLength ?? 1);
        if (!forecast && (a.ChannelIndependent is not null || a.SegmentLength is not null))
            throw new TrainingRequestException("'architecture.channel_independent' and 'architecture.segment_length' are for forecast jobs.");
        // Columns left out are all the dataset's, in its order, as ForecastWindows takes them; ForecastProblem checks
        // this again with the data (inline data is checked whole anyway).
        if (forecast && (request.Inputs ?? dataset?.Features) is { } inputColumns && (request.Targets ?? dataset?.Features) is { } targetColumns
            && layout.ColumnsProblem(inputColumns, targetColumns) is { } columnsProblem)
            throw new TrainingRequestException(columnsProblem);
        if (layout.SegmentLength < 1 || forecast && window % layout.SegmentLength != 0)
            throw new TrainingRequestException($"'architecture.segment_length' is {layout.SegmentLength}; it must be at least 1 and divide the window ({window}).");
        if (!(architecture.Dropout >= 0 && architecture.Dropout < 1))
            throw new TrainingRequestException($"'architecture.dropout' is {architecture.Dropout}; it must be at least 0 and below 1.");

        HyperparametersRequest h = request.Hyperparameters ?? new();
        OptimizerKind? optimizer = Optimizers.Parse(h.Optimizer ?? "adamw");
        ScheduleKind? schedule = Schedules.Parse(h.Schedule ?? "constant");
        ForecastLoss? loss = Losses.Parse(h.Loss ?? "mse");
        WindowNormalization? normalization = Normalizations.Parse(h.WindowNormalization ?? "none");
        var settings = new TrainingSettings
        {
            Epochs = h.Epochs ?? 20,
            BatchSize = h.BatchSize ?? 64,
            LearningRate = (float)(h.LearningRate ?? 1e-3),
            WeightDecay = (float)(h.WeightDecay ?? 0),
            Optimizer = optimizer ?? OptimizerKind.AdamW,
            ClipNorm = (float)(h.ClipNorm ?? 1),
            Schedule = schedule ?? ScheduleKind.Constant,
            WarmupEpochs = h.WarmupEpochs ?? 0,
            Patience = h.Patience ?? 5,
            Seed = h.Seed ?? 1,
            Threads = threads,
        };
        string? bad =
            optimizer is null ? $"'hyperparameters.optimizer' is '{h.Optimizer}'; it must be 'adam' or 'adamw'." :
            schedule is null ? $"'hyperparameters.schedule' is '{h.Schedule}'; it must be 'constant', 'step' or 'cosine'." :
            loss is null ? $"'hyperparameters.loss' is '{h.Loss}'; it must be 'mse', 'huber' or 'mae'." :
            normalization is null ? $"'hyperparameters.window_normalization' is '{h.WindowNormalization}'; it must be 'none', 'mean' or 'last'." :
            settings.Epochs is < 1 or > 10_000 ? $"'hyperparameters.epochs' is {settings.Epochs}; it must be between 1 and 10000." :
            settings.BatchSize is < 1 or > 65_536 ? $"'hyperparameters.batch_size' is {settings.BatchSize}; it must be between 1 and 65536." :
            !(settings.LearningRate > 0 && settings.LearningRate <= 10) ? $"'hyperparameters.learning_rate' is {h.LearningRate}; it must be above 0 and at most 10." :
            !(settings.WeightDecay >= 0 && float.IsFinite(settings.WeightDecay)) ? $"'hyperparameters.weight_decay' is {h.WeightDecay}; it must be at least 0." :
            !(settings.ClipNorm >= 0 && float.IsFinite(settings.ClipNorm)) ? $"'hyperparameters.clip_norm' is {h.ClipNorm}; it must be at least 0." :
            settings.WarmupEpochs < 0 ? $"'hyperparameters.warmup_epochs' is {settings.WarmupEpochs}; it must be at least 0." :
            settings.Patience < 0 ? $"'hyperparameters.patience' is {settings.Patience}; it must be at least 0." :
            h.SeasonLength is < 1 ? $"'hyperparameters.season_length' is {h.SeasonLength}; it must be at least 1." :
            h.ClassWeights is not null && forecast ? "'hyperparameters.class_weights' is for classify jobs." :
            h.ClassWeights?.FirstOrDefault(w => !(w.Value > 0 && double.IsFinite(w.Value))) is { Key: not null } weight ? $"'hyperparameters.class_weights' gives '{weight.Key}' the weight {weight.Value}; weights must be positive." :
            dataset?.Summary.LabelCounts is { } labelCounts && h.ClassWeights?.Keys.FirstOrDefault(k => !labelCounts.ContainsKey(k)) is { } unknownLabel
                ? $"'hyperparameters.class_weights' names '{unknownLabel}', which is not a label of dataset '{dataset.Id}' ({string.Join(", ", labelCounts.Keys)})." :
            !forecast && (h.Loss is not null || h.WindowNormalization is not null || h.SeasonLength is not null) ? "'loss', 'window_normalization' and 'season_length' are for forecast jobs." :
            null;
        if (bad is not null) throw new TrainingRequestException(bad);

        return new TrainingPlan(request.Model, task.Value, request.Dataset, hasData ? request.Data : null, request.ValidationDataset, split,
            window, horizon, request.Inputs, request.Targets, stride, architecture, settings, loss!.Value, h.ClassWeights,
            h.SeasonLength ?? 1, normalization!.Value, layout, request.Activate ?? true) { ValidationRecord = validation };
    }

    /// <summary>The validation dataset's record when the plan was made, against which inline data is checked at submission.</summary>
    private DatasetRecord? ValidationRecord { get; init; }

    /// <summary>
    /// The settings the job trains with, every default filled in, in the request's names and values: what the model's
    /// card records under metadata.training.settings, since the request (as sent) leaves out what it did not change.
    /// A forecast's columns are the ones the data resolved them to.
    /// </summary>
    public Dictionary<string, object?> EffectiveSettings(ForecastProblem? forecast)
    {
        var settings = new Dictionary<string, object?> { ["task"] = GruTaskNames.NameOf(Task) };
        if (forecast is not null)
        {
            settings["window"] = Window;
            settings["horizon"] = Horizon;
            settings["stride"] = Stride;
            settings["inputs"] = forecast.Windows.InputColumns;
            settings["targets"] = forecast.Windows.TargetColumns;
        }
        settings["validation_split"] = ValidationSplit;
        if (ValidationDataset is not null) settings["validation_dataset"] = ValidationDataset;
        var architecture = new Dictionary<string, object?>
        {
            ["hidden_size"] = Architecture.HiddenSize,
            ["num_layers"] = Architecture.NumLayers,
            ["bidirectional"] = Architecture.Bidirectional,
            ["linear_before_reset"] = Architecture.LinearBeforeReset,
            ["dropout"] = Architecture.Dropout,
        };
        if (forecast is not null)
        {
            architecture["channel_independent"] = Layout.ChannelIndependent;
            architecture["segment_length"] = Layout.SegmentLength;
        }
        settings["architecture"] = architecture;
        var hyperparameters = new Dictionary<string, object?>
        {
            ["epochs"] = Settings.Epochs,
            ["batch_size"] = Settings.BatchSize,
            ["learning_rate"] = Decimal(Settings.LearningRate),
            ["weight_decay"] = Decimal(Settings.WeightDecay),
            ["optimizer"] = Optimizers.NameOf(Settings.Optimizer),
            ["clip_norm"] = Decimal(Settings.ClipNorm),
            ["schedule"] = Schedules.NameOf(Settings.Schedule),
        };
        if (Settings.Schedule == ScheduleKind.Step)
        {
            hyperparameters["step_epochs"] = Settings.StepEpochs;
            hyperparameters["gamma"] = Decimal(Settings.Gamma);
        }
        hyperparameters["warmup_epochs"] = Settings.WarmupEpochs;
        hyperparameters["patience"] = Settings.Patience;
        hyperparameters["seed"] = Settings.Seed;
        hyperparameters["threads"] = Settings.Threads;
        if (forecast is not null)
        {
            hyperparameters["loss"] = Losses.NameOf(Loss);
            hyperparameters["season_length"] = SeasonLength;
            hyperparameters["window_normalization"] = Normalizations.NameOf(WindowNormalization);
        }
        else if (ClassWeights is not null)
        {
            hyperparameters["class_weights"] = ClassWeights;
        }
        settings["hyperparameters"] = hyperparameters;
        return settings;
    }

    /// <summary>A float setting as the decimal it was given as (0.001, not 0.0010000000474974513).</summary>
    private static double Decimal(float value) => float.IsFinite(value) ? (double)(decimal)value : value;

    // The request's name of each choice, read from the request and written back in the card's settings by one table.
    private static readonly SettingNames<OptimizerKind> Optimizers = new(("adam", OptimizerKind.Adam), ("adamw", OptimizerKind.AdamW));
    private static readonly SettingNames<ScheduleKind> Schedules = new(("constant", ScheduleKind.Constant), ("step", ScheduleKind.Step), ("cosine", ScheduleKind.Cosine));
    private static readonly SettingNames<ForecastLoss> Losses =
        new(("mse", ForecastLoss.MeanSquaredError), ("huber", ForecastLoss.Huber), ("mae", ForecastLoss.MeanAbsoluteError));
    private static readonly SettingNames<WindowNormalization> Normalizations =
        new(("none", WindowNormalization.None), ("mean", WindowNormalization.Mean), ("last", WindowNormalization.Last));

    private sealed class SettingNames<T>(params (string Name, T Value)[] choices) where T : struct, Enum
    {
        public T? Parse(string name)
        {
            foreach (var (choice, value) in choices)
                if (choice == name) return value;
            return null;
        }

        public string NameOf(T value) => choices.Single(c => EqualityComparer<T>.Default.Equals(c.Value, value)).Name;
    }

    /// <summary>Loads the data and builds the problem. Throws <see cref="TrainingDataException"/> for data that cannot train this plan.</summary>
    public async Task<TrainingProblem> LoadProblemAsync(IDatasetStore datasets, CancellationToken cancellationToken)
    {
        try
        {
            return Task == GruTask.Forecast
                ? ForecastProblem(await LoadSeriesAsync(datasets, cancellationToken))
                : ClassificationProblem(await LoadSequencesAsync(datasets, cancellationToken));
        }
        catch (ArgumentException e)
        {
            throw DataProblem(e);
        }
    }

    private static T FromEngine<T>(Func<T> build)
    {
        try
        {
            return build();
        }
        catch (ArgumentException e)
        {
            throw DataProblem(e);
        }
    }

    // The engine's checks name the parameter they guard, which means nothing to the job's author.
    private static TrainingDataException DataProblem(ArgumentException e) =>
        new(e.ParamName is null ? e.Message : e.Message.Replace($" (Parameter '{e.ParamName}')", "", StringComparison.Ordinal));

    /// <summary>
    /// Whether <see cref="CheckInlineDataAsync"/> can check the job's data when it is submitted: its data came with the
    /// request, so building the problem reads nothing from storage (a validation_dataset is checked by its record).
    /// </summary>
    public bool DataIsInline => Data is not null;

    /// <summary>
    /// Builds the problem from inline data and drops it, so that data which cannot train the plan is refused when the
    /// job is submitted (as <see cref="TrainingRequestException"/>) rather than failing it later.
    /// </summary>
    public async Task CheckInlineDataAsync(IDatasetStore datasets, CancellationToken cancellationToken)
    {
        if (!DataIsInline) throw new InvalidOperationException("The job's data is not inline.");
        try
        {
            if (ValidationRecord is null)
            {
                await LoadProblemAsync(datasets, cancellationToken);
                return;
            }
            // A classify job validated on a stored dataset: the inline sequences whole, the stored ones by their record
            // (reading them is the job's work); LoadSequencesAsync checks them again with the data.
            var sequences = new List<float[]>();
            var labels = new List<string>();
            int width = ReadInlineClassifyData(sequences, labels);
            var set = FromEngine(() => new SequenceSet(width, sequences, labels));
            if (set.Classes.Count == 1) throw new TrainingDataException(SingleLabel(set.Classes[0]));
            if (ValidationRecord.Features.Count != width)
                throw new TrainingDataException(ValidationWidthMismatch(ValidationRecord.Features.Count, width));
            if (ValidationRecord.Summary.LabelCounts?.Keys.FirstOrDefault(label => !set.Classes.Contains(label)) is { } unseen)
                throw new TrainingDataException(UnseenValidationLabel(unseen));
        }
        catch (TrainingDataException e)
        {
            throw new TrainingRequestException(e.Message);
        }
    }

    private ForecastProblem ForecastProblem(TimeSeriesSet set)
    {
        var windows = new ForecastWindows(set, new ForecastWindowOptions
        {
            Window = Window,
            Horizon = Horizon,
            Stride = Stride,
            InputColumns = Inputs,
            TargetColumns = Targets,
            Split = ForecastSplit.Fractional(ValidationSplit),
            WindowNormalization = WindowNormalization,
        });
        if (windows.Train.Count == 0)
            throw new TrainingDataException($"No training window fits: each series needs at least window + horizon = {Window + Horizon} rows before the validation part.");
        return new ForecastProblem(windows, Loss, SeasonLength, Layout);
    }

    private ClassificationProblem ClassificationProblem((SequenceSet Set, int FirstValidation) data)
    {
        SequenceSplit split = data.FirstValidation < data.Set.Count
            ? data.Set.SplitAt(data.FirstValidation)
            : data.Set.Split(ValidationSplit, Settings.Seed);
        float[]? weights = null;
        if (ClassWeights is not null)
        {
            if (ClassWeights.Keys.FirstOrDefault(k => !data.Set.Classes.Contains(k)) is { } unknown)
                throw new TrainingDataException($"'hyperparameters.class_weights' names '{unknown}', which is not a label of the data ({string.Join(", ", data.Set.Classes)}).");
            weights = [.. data.Set.Classes.Select(c => (float)(ClassWeights.TryGetValue(c, out double w) ? w : 1))];
        }
        return new ClassificationProblem(split, weights);
    }

    private async Task<TimeSeriesSet> LoadSeriesAsync(IDatasetStore datasets, CancellationToken cancellationToken)
    {
        if (Dataset is not null)
        {
            TimeSeriesData stored = await datasets.LoadTimeSeriesAsync(Dataset, cancellationToken);
            var ids = stored.Series.Select((s, i) => s.Name ?? $"series-{i}").ToArray();
            return new TimeSeriesSet(stored.Features, [.. stored.Series.Select(s => s.Values)], stored.Series.Any(s => s.Name is not null) ? ids : null);
        }
        JsonElement data = Data!.Value;
        if (data.ValueKind != JsonValueKind.Object || !data.TryGetProperty("series", out JsonElement series) || series.ValueKind != JsonValueKind.Array || series.GetArrayLength() == 0)
            throw new TrainingDataException("Inline forecast data is {\"series\": [sequence, ...], \"columns\": [name, ...]} with at least one series.");
        RequireOnly(data, "forecast", "series", "columns");
        var values = new List<float[]>();
        int width = ReadInlineSequences(series, "data.series", values);
        string[] columns = data.TryGetProperty("columns", out JsonElement names) && names.ValueKind == JsonValueKind.Array
            ? [.. names.EnumerateArray().Select(n => n.GetString() ?? "")]
            : [.. Enumerable.Range(0, width).Select(i => $"x{i}")];
        if (columns.Length != width)
            throw new TrainingDataException($"data.columns names {columns.Length} column{(columns.Length == 1 ? "" : "s")}; the series have {width} value{(width == 1 ? "" : "s")} per step.");
        return new TimeSeriesSet(columns, values);
    }

    private async Task<(SequenceSet, int)> LoadSequencesAsync(IDatasetStore datasets, CancellationToken cancellationToken)
    {
        var sequences = new List<float[]>();
        var labels = new List<string>();
        int width;
        if (Dataset is not null)
        {
            SequenceData stored = await datasets.LoadSequencesAsync(Dataset, cancellationToken);
            width = stored.Width;
            sequences.AddRange(stored.Sequences.Select(s => s.Values));
            labels.AddRange(stored.Sequences.Select(s => s.Label));
        }
        else
        {
            width = ReadInlineClassifyData(sequences, labels);
        }
        int firstValidation = sequences.Count;
        if (ValidationDataset is not null)
        {
            SequenceData validation = await datasets.LoadSequencesAsync(ValidationDataset, cancellationToken);
            if (validation.Width != width)
                throw new TrainingDataException(ValidationWidthMismatch(validation.Width, width));
            sequences.AddRange(validation.Sequences.Select(s => s.Values));
            labels.AddRange(validation.Sequences.Select(s => s.Label));
        }
        var set = new SequenceSet(width, sequences, labels);
        if (set.Classes.Count == 1) throw new TrainingDataException(SingleLabel(set.Classes[0]));
        if (ValidationDataset is not null)
        {
            HashSet<string> trainingLabels = [.. labels.Take(firstValidation)];
            if (labels.Skip(firstValidation).FirstOrDefault(l => !trainingLabels.Contains(l)) is { } unseen)
                throw new TrainingDataException(UnseenValidationLabel(unseen));
        }
        return (set, firstValidation);
    }

    /// <summary>Reads inline classify data into <paramref name="sequences"/> and <paramref name="labels"/>; returns the features per step.</summary>
    private int ReadInlineClassifyData(List<float[]> sequences, List<string> labels)
    {
        JsonElement data = Data!.Value;
        if (data.ValueKind != JsonValueKind.Object || !data.TryGetProperty("inputs", out JsonElement inputs) || inputs.ValueKind != JsonValueKind.Array
            || !data.TryGetProperty("labels", out JsonElement given) || given.ValueKind != JsonValueKind.Array)
            throw new TrainingDataException("Inline classify data is {\"inputs\": [sequence, ...], \"labels\": [label, ...]}.");
        RequireOnly(data, "classify", "inputs", "labels");
        if (inputs.GetArrayLength() != given.GetArrayLength() || inputs.GetArrayLength() == 0)
        {
            int sequenceCount = inputs.GetArrayLength(), labelCount = given.GetArrayLength();
            throw new TrainingDataException($"data.inputs has {sequenceCount} sequence{(sequenceCount == 1 ? "" : "s")} and data.labels "
                + $"{labelCount} label{(labelCount == 1 ? "" : "s")}; give one label per sequence, at least one.");
        }
        int width = ReadInlineSequences(inputs, "data.inputs", sequences);
        int index = 0;
        foreach (JsonElement label in given.EnumerateArray())
        {
            if (ClassLabels.FromJson(label) is not { Length: > 0 } text)
                throw new TrainingDataException($"data.labels[{index}] is not a non-empty string or a whole number.");
            labels.Add(text);
            index++;
        }
        return width;
    }

    /// <summary>Reads each inline sequence of <paramref name="array"/> (named <paramref name="path"/> in errors) into <paramref name="into"/>; returns the values per step, which every sequence shares.</summary>
    private static int ReadInlineSequences(JsonElement array, string path, List<float[]> into)
    {
        int width = -1;
        int index = 0;
        foreach (JsonElement one in array.EnumerateArray())
        {
            (float[] rows, width) = InlineSequence(one, $"{path}[{index++}]", width);
            into.Add(rows);
        }
        return width;
    }

    // Said at submission from the datasets' records and again when the job loads the data, in the same words.
    private static string ValidationWidthMismatch(int validationWidth, int trainingWidth) =>
        $"validation_dataset has {validationWidth} feature{(validationWidth == 1 ? "" : "s")} per step; the training data has {trainingWidth}.";

    private static string SingleLabel(string label) => $"Every training sequence has the label '{label}'; a classifier needs at least two labels.";

    private static string UnseenValidationLabel(string label) => $"validation_dataset has the label '{label}', which no training sequence has.";

    /// <summary>Refuses a property of inline data the job would ignore, as an unknown property of the request is refused.</summary>
    private static void RequireOnly(JsonElement data, string task, params string[] known)
    {
        foreach (JsonProperty property in data.EnumerateObject())
        {
            if (!known.Contains(property.Name, StringComparer.Ordinal))
                throw new TrainingDataException($"data has the property '{property.Name}'; inline {task} data has only {string.Join(" and ", known.Select(k => $"'{k}'"))}.");
        }
    }

    /// <summary>One inline sequence (steps of numbers, or bare numbers for one feature) as row-major values.</summary>
    private static (float[] Values, int Width) InlineSequence(JsonElement sequence, string where, int width)
    {
        if (sequence.ValueKind != JsonValueKind.Array || sequence.GetArrayLength() == 0)
            throw new TrainingDataException($"{where} is not a non-empty array of time steps.");
        var values = new List<float>();
        int step = 0;
        foreach (JsonElement item in sequence.EnumerateArray())
        {
            int count = 0;
            if (item.ValueKind == JsonValueKind.Number)
            {
                values.Add(Number(item, $"{where}[{step}]"));
                count = 1;
            }
            else if (item.ValueKind == JsonValueKind.Array)
            {
                foreach (JsonElement v in item.EnumerateArray()) values.Add(Number(v, $"{where}[{step}][{count++}]"));
            }
            else
            {
                throw new TrainingDataException($"{where}[{step}] is not a number or an array of numbers.");
            }
            if (width < 0) width = count;
            if (count != width || count == 0)
                throw new TrainingDataException($"{where}[{step}] has {count} value{(count == 1 ? "" : "s")}; the other steps have {width}.");
            step++;
        }
        return ([.. values], width);
    }

    private static float Number(JsonElement value, string where) =>
        value.ValueKind == JsonValueKind.Number && value.TryGetDouble(out double d) && float.IsFinite((float)d)
            ? (float)d
            : throw new TrainingDataException($"{where} is not a finite number.");
}

/// <summary>A training job request that cannot be run as given; the message says why.</summary>
public sealed class TrainingRequestException(string message) : Exception(message);

/// <summary>Training data that cannot train the job's plan; the message says why.</summary>
public sealed class TrainingDataException(string message) : Exception(message);
