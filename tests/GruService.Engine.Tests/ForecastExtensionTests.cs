using GruService.Engine.ModelFiles;
using GruService.Engine.Training;
using GruService.Engine.Training.Data;

namespace GruService.Engine.Tests;

/// <summary>
/// The forecast extensions of the model format (window normalisation, channel independence, segments) as the service
/// computes them: the same as the trainer evaluated, the same as the documented math, and without allocation per step.
/// </summary>
public class ForecastExtensionTests
{
    private const int Window = 12, Horizon = 4;

    /// <summary>Three columns with level shifts (x up, y down, half way) and a trend: what per-window offsets are for.</summary>
    private static TimeSeriesSet Shifting(int rows = 240)
    {
        var values = new float[rows * 3];
        for (int t = 0; t < rows; t++)
        {
            values[t * 3] = MathF.Sin(t * 0.3f) + (t >= rows / 2 ? 40 : 0);
            values[t * 3 + 1] = 100 + 3 * MathF.Cos(t * 0.7f) - (t >= rows / 2 ? 25 : 0);
            values[t * 3 + 2] = 0.01f * t + 0.5f * MathF.Sin(t * 1.3f);
        }
        return new TimeSeriesSet(["x", "y", "z"], [values]);
    }

    private static ForecastWindows Windows(WindowNormalization mode, IReadOnlyList<string>? targets = null) =>
        new(Shifting(), new ForecastWindowOptions
        {
            Window = Window, Horizon = Horizon, Split = ForecastSplit.Fractional(0.2, 0.2), WindowNormalization = mode, TargetColumns = targets,
        });

    public static TheoryData<WindowNormalization, bool, int, string[]?> TrainedLayouts() => new()
    {
        { WindowNormalization.Mean, false, 1, null },
        { WindowNormalization.Last, false, 1, null },
        { WindowNormalization.Mean, false, 1, ["z", "x"] }, // targets a reordered subset of the inputs
        { WindowNormalization.Last, false, 3, ["y"] },
        { WindowNormalization.Last, true, 1, null },
        { WindowNormalization.Mean, true, 4, null },
        { WindowNormalization.None, true, 4, null },
        { WindowNormalization.None, false, 6, null },
    };

    [Theory]
    [MemberData(nameof(TrainedLayouts))]
    public void Predict_OnRawWindows_GivesWhatTheTrainersPassGaveInOriginalUnits(WindowNormalization mode, bool channelIndependent, int segment, string[]? targets)
    {
        ForecastWindows windows = Windows(mode, targets);
        var problem = new ForecastProblem(windows, layout: new ForecastInputLayout(channelIndependent, segment));
        TrainingResult result = new GruTrainer(problem, new GruArchitecture(HiddenSize: 6),
            new TrainingSettings { Epochs = 2, BatchSize = 16, LearningRate = 1e-2f, Seed = 3, Patience = 0 }).Train();
        GruModel served = ModelFile.Read(ModelFile.Write(result.Model), new ModelLimits());
        Assert.Equal(mode, served.Config.WindowNormalization);
        Assert.Equal(channelIndependent, served.Config.ChannelIndependent);
        Assert.Equal(segment, served.Config.SegmentLength);

        // The trainer's side: the batch it fills, its pass, then the offsets and de-normalisation of ToOriginalUnits.
        ForecastWindowSet test = windows.Test;
        int examples = problem.Count(DataPart.Test), outputSize = windows.OutputSize, channels = channelIndependent ? windows.InputSize : 1;
        int[] positions = [.. Enumerable.Range(0, examples)];
        var buffers = new BatchBuffers();
        problem.Fill(DataPart.Test, positions, buffers);
        var pass = new GruTrainingPass<float>(result.Model.Config);
        pass.Forward(GruParameters<float>.FromModel(result.Model), buffers.Inputs.AsSpan(0, problem.TotalSteps(DataPart.Test, positions) * problem.InputSize),
            buffers.Lengths.AsSpan(0, examples), problem.Targets(buffers, examples), default, null);
        var expected = new float[test.Count * Horizon * outputSize];
        var offsets = new float[test.Count * outputSize];
        for (int e = 0; e < examples; e++)
        {
            // Channel-independent example e is column e % C of window e / C; otherwise example e is window e.
            int window = e / channels, column = e % channels, perExample = problem.Outputs / Horizon;
            for (int h = 0; h < Horizon; h++)
                for (int j = 0; j < perExample; j++)
                    expected[(window * Horizon + h) * outputSize + column + j] = pass.Outputs[(e * Horizon + h) * perExample + j];
            for (int j = 0; j < perExample; j++) offsets[window * outputSize + column + j] = buffers.Offsets[e * perExample + j];
        }
        windows.ToOriginalUnits(expected, offsets);

        // The service's side: raw rows in, as a client sends them.
        var actual = new float[expected.Length];
        served.Predict(RawInputs(windows, test), [.. Enumerable.Repeat(Window, test.Count)], actual);

        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 1e-6 * Math.Abs(expected[i]),
                $"value {i}: the trainer evaluated {expected[i]:R}, the service predicts {actual[i]:R}");
    }

    public static TheoryData<WindowNormalization, bool, int> Layouts() => new()
    {
        { WindowNormalization.Mean, false, 1 },
        { WindowNormalization.Last, false, 4 },
        { WindowNormalization.Last, true, 3 },
        { WindowNormalization.Mean, true, 1 },
        { WindowNormalization.None, true, 2 },
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void Predict_ComputesTheDocumentedMath_ForRaggedSequences(WindowNormalization mode, bool channelIndependent, int segment)
    {
        GruModel model = RandomModel(mode, channelIndependent, segment, targetInputs: channelIndependent ? [0, 1, 2] : [2, 0, 0]);
        int[] lengths = [2 * segment, 5 * segment, segment, 5 * segment];
        var random = new Random(8);
        float[] raw = [.. Enumerable.Range(0, lengths.Sum() * 3).Select(i => (float)(random.NextDouble() * 20 + (i % 3) * 50))];

        var actual = new float[lengths.Length * model.OutputsPerSequence];
        model.Predict(raw, lengths, actual);

        for (int s = 0, start = 0; s < lengths.Length; start += lengths[s], s++)
        {
            float[] expected = DocumentedForecast(model, raw.AsSpan(start * 3, lengths[s] * 3).ToArray(), lengths[s]);
            for (int i = 0; i < expected.Length; i++)
                Assert.True(Math.Abs(actual[s * expected.Length + i] - expected[i]) <= 1e-6 * Math.Abs(expected[i]),
                    $"sequence {s} value {i}: expected {expected[i]:R}, got {actual[s * expected.Length + i]:R}");
        }
    }

    [Fact]
    public void Predict_RefusesALengthThatIsNotAMultipleOfTheSegment()
    {
        GruModel model = RandomModel(WindowNormalization.None, channelIndependent: true, segment: 4, targetInputs: null);
        var error = Assert.Throws<ArgumentException>(() => model.Predict(new float[(8 + 6) * 3], [8, 6], new float[2 * model.OutputsPerSequence]));
        Assert.Contains("Sequence 1 has 6 steps", error.Message);
        Assert.Contains("multiple of 4", error.Message);
    }

    [Fact]
    public void WarmUp_RunsAWholeSegment_SoItSucceedsForAModelThatReadsSegments()
    {
        GruModel model = RandomModel(WindowNormalization.Last, channelIndependent: true, segment: 4, targetInputs: [0, 1, 2]);
        model.WarmUp(); // a one-step warm-up would be refused: 1 is not a multiple of 4
        var answer = new float[model.OutputsPerSequence];
        model.Predict(new float[4 * 3], [4], answer);
        Assert.All(answer, value => Assert.True(float.IsFinite(value)));
    }

    [Theory]
    [InlineData(WindowNormalization.Mean, true, 4)]
    [InlineData(WindowNormalization.Last, false, 1)]
    public void Predict_AllocatesNothingThatGrowsWithSequenceLength(WindowNormalization mode, bool channelIndependent, int segment)
    {
        GruModel model = RandomModel(mode, channelIndependent, segment, targetInputs: channelIndependent ? [0, 1, 2] : [1, 1, 0]);
        long shortRun = AllocatedBytes(model, steps: 8);
        long longRun = AllocatedBytes(model, steps: 800);
        Assert.True(longRun == shortRun, $"8 steps allocated {shortRun} bytes, 800 steps {longRun} bytes");
        Assert.True(shortRun < 1024, $"a call allocated {shortRun} bytes");
    }

    [Fact]
    public void ModelFile_RoundTrip_KeepsTheExtensionsAndTheirTensorShapes()
    {
        GruModel model = RandomModel(WindowNormalization.Last, channelIndependent: true, segment: 4, targetInputs: [0, 1, 2]);
        GruModel loaded = ModelFile.Read(ModelFile.Write(model), new ModelLimits());

        Assert.Equal(WindowNormalization.Last, loaded.Config.WindowNormalization);
        Assert.Equal([0, 1, 2], loaded.Config.TargetInputs!);
        Assert.True(loaded.Config.ChannelIndependent);
        Assert.Equal(4, loaded.Config.SegmentLength);
        // The univariate GRU reads a segment of 4 values per step; the head forecasts one column.
        Assert.Equal([15L, 4], ModelFile.ExpectedShapes(loaded.Config)["gru.weight_ih_l0"]);
        Assert.Equal([(long)Horizon, 10], ModelFile.ExpectedShapes(loaded.Config)["head.weight"]);
        Assert.Equal(Horizon * 3, loaded.OutputsPerSequence);

        float[] raw = [.. Enumerable.Range(0, 8 * 3).Select(i => (float)Math.Sin(i))];
        float[] before = new float[model.OutputsPerSequence], after = new float[model.OutputsPerSequence];
        model.Predict(raw, [8], before);
        loaded.Predict(raw, [8], after);
        Assert.Equal(before, after);
    }

    [Fact]
    public void ConfigWrite_OfAPlainModel_HasNoExtensionKeys()
    {
        string json = GruConfigJson.Write(RandomModel(WindowNormalization.None, channelIndependent: false, segment: 1, targetInputs: null).Config);
        foreach (string key in new[] { "window_normalization", "target_inputs", "channel_independent", "segment_length" })
            Assert.DoesNotContain(key, json);
    }

    /// <summary>
    /// The forecast docs/model-format.md defines, computed through a plain model with the same tensors: standardise,
    /// take the offsets, subtract them; run the GRU on the whole sequence (or on each column alone) read in segments;
    /// add the offsets back; de-normalise.
    /// </summary>
    private static float[] DocumentedForecast(GruModel model, float[] raw, int steps)
    {
        GruConfig cfg = model.Config;
        int inputs = cfg.InputSize, outputs = cfg.OutputSize;
        var x = new float[raw.Length];
        for (int t = 0; t < steps; t++)
            for (int i = 0; i < inputs; i++)
                x[t * inputs + i] = (raw[t * inputs + i] - cfg.InputMean![i]) / cfg.InputStd![i];
        var offset = new float[inputs];
        for (int i = 0; i < inputs; i++)
        {
            double sum = 0;
            for (int t = 0; t < steps; t++) sum += x[t * inputs + i];
            offset[i] = cfg.WindowNormalization switch
            {
                WindowNormalization.Mean => (float)(sum / steps),
                WindowNormalization.Last => x[(steps - 1) * inputs + i],
                _ => 0,
            };
        }
        for (int t = 0; t < steps; t++)
            for (int i = 0; i < inputs; i++)
                x[t * inputs + i] -= offset[i];

        var core = new GruModel(new GruConfig
        {
            Task = GruTask.Forecast, InputSize = cfg.LayerInputSize(0), HiddenSize = cfg.HiddenSize, NumLayers = cfg.NumLayers,
            Bidirectional = cfg.Bidirectional, LinearBeforeReset = cfg.LinearBeforeReset, Horizon = cfg.Horizon,
            OutputSize = cfg.HeadOutputs / cfg.Horizon,
        }, model.Directions, model.HeadWeight, model.HeadBias);
        var forecast = new float[cfg.Horizon * outputs];
        if (cfg.ChannelIndependent)
        {
            var column = new float[steps];
            var y = new float[cfg.Horizon];
            for (int c = 0; c < inputs; c++)
            {
                for (int t = 0; t < steps; t++) column[t] = x[t * inputs + c];
                core.Predict(column, [steps / cfg.SegmentLength], y);
                for (int h = 0; h < cfg.Horizon; h++) forecast[h * outputs + c] = y[h];
            }
        }
        else
        {
            core.Predict(x, [steps / cfg.SegmentLength], forecast);
        }
        for (int h = 0; h < cfg.Horizon; h++)
            for (int j = 0; j < outputs; j++)
            {
                float back = cfg.TargetInputs is { } map ? offset[map[j]] : 0;
                forecast[h * outputs + j] = MathF.FusedMultiplyAdd(forecast[h * outputs + j] + back, cfg.TargetStd![j], cfg.TargetMean![j]);
            }
        return forecast;
    }

    /// <summary>A randomly initialised 3-column forecaster (2 layers, bidirectional) with the given extensions.</summary>
    private static GruModel RandomModel(WindowNormalization mode, bool channelIndependent, int segment, int[]? targetInputs)
    {
        float[] inputMean = [20, 60, 110], inputStd = [6, 5.5f, 7];
        int outputs = targetInputs?.Length ?? 3;
        var config = new GruConfig
        {
            Task = GruTask.Forecast, InputSize = 3, HiddenSize = 5, NumLayers = 2, Bidirectional = true, Horizon = Horizon,
            OutputSize = outputs,
            InputMean = inputMean, InputStd = inputStd,
            // Targets share their input's standardisation, as window normalisation requires.
            TargetMean = [.. Enumerable.Range(0, outputs).Select(j => inputMean[targetInputs?[j] ?? j])],
            TargetStd = [.. Enumerable.Range(0, outputs).Select(j => inputStd[targetInputs?[j] ?? j])],
            WindowNormalization = mode, TargetInputs = mode == WindowNormalization.None ? null : targetInputs,
            ChannelIndependent = channelIndependent, SegmentLength = segment,
        };
        var parameters = new GruParameters<float>(config);
        parameters.InitializeLikePyTorch(new Random(17));
        return parameters.ToModel();
    }

    private static float[] RawInputs(ForecastWindows windows, ForecastWindowSet part)
    {
        int columns = windows.Data.ColumnCount;
        var raw = new float[part.Count * Window * columns];
        for (int w = 0; w < part.Count; w++)
            windows.Data.Rows(0).Slice(part[w].Start * columns, Window * columns).CopyTo(raw.AsSpan(w * Window * columns));
        return raw;
    }

    private static long AllocatedBytes(GruModel model, int steps)
    {
        int[] lengths = [steps, steps / 2];
        var inputs = new float[(steps + steps / 2) * model.Config.InputSize];
        for (int i = 0; i < inputs.Length; i++) inputs[i] = MathF.Sin(i);
        var outputs = new float[lengths.Length * model.OutputsPerSequence];
        return AllocationMeter.LeastBytesPerCall(() => model.Predict(inputs, lengths, outputs));
    }
}
