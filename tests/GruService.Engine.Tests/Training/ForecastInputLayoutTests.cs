using System.Text;
using System.Text.Json;
using GruService.Engine.Training;
using GruService.Engine.Training.Data;

namespace GruService.Engine.Tests.Training;

/// <summary>
/// ForecastProblem with a <see cref="ForecastInputLayout"/>: the examples it gives the pass, the config it writes,
/// its metrics, and the pass's gradient for the GRU widths the layouts give.
/// </summary>
public class ForecastInputLayoutTests
{
    private static TimeSeriesSet Data(int rows = 160)
    {
        var values = new float[rows * 3];
        for (int t = 0; t < rows; t++)
        {
            values[t * 3] = MathF.Sin(t * 0.3f) + (t >= rows / 2 ? 8 : 0);
            values[t * 3 + 1] = 50 + 3 * MathF.Cos(t * 0.7f);
            values[t * 3 + 2] = 0.05f * t;
        }
        return new TimeSeriesSet(["a", "b", "c"], [values]);
    }

    private static ForecastWindows Windows(WindowNormalization mode = WindowNormalization.Last, IReadOnlyList<string>? targets = null) =>
        new(Data(), new ForecastWindowOptions
        {
            Window = 12, Horizon = 3, Split = ForecastSplit.Fractional(0.2, 0.2), WindowNormalization = mode, TargetColumns = targets,
        });

    [Fact]
    public void ChannelIndependent_ExampleKTimesCPlusC_IsColumnCOfWindowK()
    {
        ForecastWindows windows = Windows();
        var problem = new ForecastProblem(windows, layout: new ForecastInputLayout(ChannelIndependent: true, SegmentLength: 4));
        Assert.Equal(windows.Train.Count * 3, problem.Count(DataPart.Train));
        Assert.Equal(4, problem.InputSize);
        Assert.Equal(3, problem.Outputs);
        int[] positions = [7, 0, 8, 5];
        Assert.Equal(4 * 3, problem.TotalSteps(DataPart.Train, positions));

        var buffers = new BatchBuffers();
        problem.Fill(DataPart.Train, positions, buffers);
        Assert.Equal([3, 3, 3, 3], buffers.Lengths.AsSpan(0, 4).ToArray());
        for (int e = 0; e < positions.Length; e++)
        {
            int window = positions[e] / 3, column = positions[e] % 3;
            float[] inputs = new float[12 * 3], targets = new float[3 * 3], offsets = new float[3];
            windows.Fill(windows.Train, [window], inputs, targets, offsets);
            for (int t = 0; t < 12; t++) Assert.Equal(inputs[t * 3 + column], buffers.Inputs[e * 12 + t]);
            for (int h = 0; h < 3; h++) Assert.Equal(targets[h * 3 + column], buffers.Targets[e * 3 + h]);
            Assert.Equal(offsets[column], buffers.Offsets[e]);
        }
    }

    [Fact]
    public void Segmented_ExamplesAreTheWindowsTimeMajorValues_ReadAsWiderSteps()
    {
        ForecastWindows windows = Windows(targets: ["c"]);
        var problem = new ForecastProblem(windows, layout: new ForecastInputLayout(SegmentLength: 3));
        Assert.Equal(windows.Train.Count, problem.Count(DataPart.Train));
        Assert.Equal(9, problem.InputSize);
        int[] positions = [4, 2];
        var buffers = new BatchBuffers();
        problem.Fill(DataPart.Train, positions, buffers);

        float[] inputs = new float[2 * 12 * 3], targets = new float[2 * 3], offsets = new float[2];
        windows.Fill(windows.Train, positions, inputs, targets, offsets);
        Assert.Equal(inputs, buffers.Inputs.AsSpan(0, inputs.Length).ToArray());
        Assert.Equal(targets, buffers.Targets.AsSpan(0, targets.Length).ToArray());
        Assert.Equal([4, 4], buffers.Lengths.AsSpan(0, 2).ToArray());
    }

    [Fact]
    public void Constructor_Refuses_ASegmentThatDoesNotDivideTheWindow()
    {
        var error = Assert.Throws<ArgumentException>(() => new ForecastProblem(Windows(), layout: new ForecastInputLayout(SegmentLength: 5)));
        Assert.Contains("divide the window (12)", error.Message);
    }

    [Fact]
    public void Constructor_Refuses_ChannelIndependenceWithTargetsOtherThanTheInputs()
    {
        var error = Assert.Throws<ArgumentException>(() =>
            new ForecastProblem(Windows(targets: ["a", "c", "b"]), layout: new ForecastInputLayout(ChannelIndependent: true)));
        Assert.Contains("must be the inputs (a, b, c)", error.Message);
    }

    [Theory]
    [InlineData(WindowNormalization.None, false, 1)]
    [InlineData(WindowNormalization.Mean, false, 2)]
    [InlineData(WindowNormalization.Last, true, 4)]
    public void CreateConfig_WritesTheExtensionsTheWindowsAndLayoutUse(WindowNormalization mode, bool channelIndependent, int segment)
    {
        ForecastWindows windows = Windows(mode, channelIndependent ? null : ["c", "a"]);
        var problem = new ForecastProblem(windows, layout: new ForecastInputLayout(channelIndependent, segment));
        GruConfig config = problem.CreateConfig(new GruArchitecture(HiddenSize: 4), new Dictionary<string, JsonElement>());

        Assert.Null(config.ExtensionProblem());
        Assert.Equal(3, config.InputSize);
        Assert.Equal(mode, config.WindowNormalization);
        Assert.Equal(channelIndependent, config.ChannelIndependent);
        Assert.Equal(segment, config.SegmentLength);
        Assert.Equal(problem.InputSize, config.LayerInputSize(0));
        Assert.Equal(problem.Outputs, config.HeadOutputs);
        if (mode == WindowNormalization.None) Assert.Null(config.TargetInputs);
        else Assert.Equal(channelIndependent ? [0, 1, 2] : [2, 0], config.TargetInputs!);
    }

    [Fact]
    public void ChannelIndependent_Evaluation_IsTheServedModelsErrorInOriginalUnits()
    {
        ForecastWindows windows = Windows(WindowNormalization.Mean);
        var problem = new ForecastProblem(windows, seasonLength: 2, layout: new ForecastInputLayout(ChannelIndependent: true, SegmentLength: 2));
        var trainer = new GruTrainer(problem, new GruArchitecture(HiddenSize: 5),
            new TrainingSettings { Epochs = 1, BatchSize = 16, LearningRate = 1e-2f, Seed = 5, Threads = 2 });
        TrainingResult result = trainer.Train();

        ForecastWindowSet test = windows.Test;
        int columns = 3, perWindow = 3 * columns;
        var raw = new float[test.Count * 12 * columns];
        for (int w = 0; w < test.Count; w++)
            windows.Data.Rows(0).Slice(test[w].Start * columns, 12 * columns).CopyTo(raw.AsSpan(w * 12 * columns));
        var forecasts = new float[test.Count * perWindow];
        result.Model.Predict(raw, [.. Enumerable.Repeat(12, test.Count)], forecasts);
        var metrics = new Engine.Training.Metrics.ForecastMetrics(columns);
        for (int w = 0; w < test.Count; w++)
            metrics.Add(forecasts.AsSpan(w * perWindow, perWindow), windows.Data.Rows(0).Slice((test[w].Start + 12) * columns, perWindow));

        // The trainer's true values are the standardised targets turned back into original units, which can differ from
        // the raw rows in the last float bit; everything else is the same computation.
        Assert.Equal(test.Count * 3, result.Test!.Examples);
        Assert.Equal(metrics.Mse, result.Test.Mse!.Value, 1e-6 * metrics.Mse);
        Assert.Equal(metrics.Mae, result.Test.Mae!.Value, 1e-6 * metrics.Mae);
        Assert.NotNull(result.Test.Mase);
    }

    public static TheoryData<bool, int, bool> Widths() => new()
    {
        { true, 3, true },   // univariate, segments of 3: the GRU reads 3 values per step
        { false, 2, false }, // 2 columns, segments of 2: 4 values per step
    };

    /// <summary>
    /// The pass over a channel-independent, segmented config (GRU input width = segment × columns per sequence, head
    /// of horizon × one column) against central finite differences, in float64, for every parameter.
    /// </summary>
    [Theory]
    [MemberData(nameof(Widths))]
    public void Backward_MatchesFiniteDifferences_ForTheLayoutsWidths(bool channelIndependent, int segment, bool linearBeforeReset)
    {
        var config = new GruConfig
        {
            Task = GruTask.Forecast, InputSize = 2, HiddenSize = 3, NumLayers = 2, Bidirectional = true, LinearBeforeReset = linearBeforeReset,
            Horizon = 2, OutputSize = 2, ChannelIndependent = channelIndependent, SegmentLength = segment,
        };
        var parameters = TrainingTestData.Parameters<double>(config, 31);
        int[] lengths = [3, 1, 4];
        var random = new Random(32);
        double[] inputs = [.. Enumerable.Range(0, lengths.Sum() * config.LayerInputSize(0)).Select(_ => 2 * random.NextDouble() - 1)];
        double[] targets = [.. Enumerable.Range(0, lengths.Length * config.HeadOutputs).Select(_ => 2 * random.NextDouble() - 1)];
        var pass = new GruTrainingPass<double>(config);
        double Loss() => pass.Forward(parameters, inputs, lengths, TrainingTargets<double>.Forecast(targets), default, null);

        Loss();
        var analytic = new double[parameters.Values.Length];
        pass.Backward(parameters, analytic);
        const double step = 1e-5;
        var report = new StringBuilder();
        bool failed = false;
        foreach (ParameterTensor tensor in parameters.Tensors)
        {
            double worst = 0;
            for (int i = tensor.Offset; i < tensor.Offset + tensor.Length; i++)
            {
                double saved = parameters.Values[i];
                parameters.Values[i] = saved + step;
                double plus = Loss();
                parameters.Values[i] = saved - step;
                double minus = Loss();
                parameters.Values[i] = saved;
                double numeric = (plus - minus) / (2 * step);
                worst = Math.Max(worst, Math.Abs(analytic[i] - numeric) / Math.Max(Math.Max(Math.Abs(analytic[i]), Math.Abs(numeric)), 1e-3));
            }
            failed |= worst > 1e-6;
            report.AppendLine($"{tensor.Name} {string.Join('x', tensor.Shape)}: worst relative error {worst:E2}");
        }
        Assert.False(failed, report.ToString());
        Assert.Equal([9L, config.LayerInputSize(0)], parameters.Tensors.Single(t => t.Name == "gru.weight_ih_l0").Shape);
    }
}
