using GruService.Engine.Training.Data;
using GruService.Engine.Training.Metrics;

namespace GruService.Engine.Tests.Training.Data;

public class ForecastWindowsTests
{
    // Series s, row t, column k holds s·100000 + t·10 + k: every value says where it came from.
    private static float Code(int series, int row, int column) => series * 100_000 + row * 10 + column;

    private static TimeSeriesSet Coded(int columns, params int[] lengths) =>
        new([.. Enumerable.Range(0, columns).Select(k => ((char)('a' + k)).ToString())],
            [.. lengths.Select((rows, s) => Enumerable.Range(0, rows * columns).Select(v => Code(s, v / columns, v % columns)).ToArray())]);

    private static ForecastWindows Raw(TimeSeriesSet data, int window, int horizon, ForecastSplit split, int stride = 1) =>
        new(data, new ForecastWindowOptions { Window = window, Horizon = horizon, Split = split, Stride = stride, Standardize = false });

    private static (float[] Inputs, float[] Targets, float[] Offsets) Fill(ForecastWindows windows, ForecastWindowSet part, params int[] indices)
    {
        var inputs = new float[indices.Length * windows.Window * windows.InputSize];
        var targets = new float[indices.Length * windows.Horizon * windows.OutputSize];
        var offsets = new float[indices.Length * windows.OutputSize];
        windows.Fill(part, indices, inputs, targets, offsets);
        return (inputs, targets, offsets);
    }

    private static int[] All(ForecastWindowSet part) => [.. Enumerable.Range(0, part.Count)];

    // ---------------------------------------------------------------- fractional split

    [Fact]
    public void Fractional_NoWindowCrossesTheBoundary()
    {
        // 100 rows, 20% validation: training rows 0..79, validation 80..99.
        var windows = Raw(Coded(1, 100), window: 10, horizon: 5, ForecastSplit.Fractional(0.2));

        Assert.Equal(66, windows.Train.Count);           // starts 0 … 65: the last target is row 79
        Assert.Equal(6, windows.Validation.Count);       // starts 80 … 85: the first input is row 80
        Assert.Empty(windows.Test);
        Assert.Equal(80, windows.TrainRows(0));
        Assert.All(windows.Train, w => Assert.True(w.Start + 15 <= 80));
        Assert.All(windows.Validation, w => Assert.True(w.Start >= 80 && w.Start + 15 <= 100));
        Assert.Equal(new ForecastWindow(0, 65), windows.Train[^1]);
        Assert.Equal(new ForecastWindow(0, 80), windows.Validation[0]);
        Assert.Equal(new ForecastWindow(0, 85), windows.Validation[^1]);
    }

    [Fact]
    public void Fractional_WithTest_SplitsIntoThreeParts()
    {
        // 100 rows, 20% validation, 10% test: training 0..69, validation 70..89, test 90..99.
        var windows = Raw(Coded(1, 100), window: 5, horizon: 2, ForecastSplit.Fractional(0.2, 0.1));
        Assert.Equal((64, 14, 4), (windows.Train.Count, windows.Validation.Count, windows.Test.Count));
        Assert.Equal(70, windows.Validation[0].Start);
        Assert.Equal(90, windows.Test[0].Start);
        Assert.Equal(93, windows.Test[^1].Start);
    }

    [Fact]
    public void Fractional_RoundsHalfAwayFromZero()
    {
        var windows = Raw(Coded(1, 7), window: 1, horizon: 1, ForecastSplit.Fractional(0.25)); // 1.75 → 2 validation rows
        Assert.Equal(5, windows.TrainRows(0));
    }

    [Fact]
    public void Fractional_WindowContentsAreTheRows()
    {
        var windows = Raw(Coded(2, 100), window: 3, horizon: 2, ForecastSplit.Fractional(0.2));
        var (inputs, targets, offsets) = Fill(windows, windows.Validation, 1);
        // Validation window 1 starts at row 81: inputs rows 81..83, targets rows 84..85.
        Assert.Equal([810, 811, 820, 821, 830, 831], inputs);
        Assert.Equal([840, 841, 850, 851], targets);
        Assert.Equal([0f, 0f], offsets);
    }

    [Fact]
    public void Stride_SpacesTheStarts()
    {
        var windows = Raw(Coded(1, 20), window: 3, horizon: 2, ForecastSplit.Fractional(0), stride: 4);
        Assert.Equal([0, 4, 8, 12], windows.Train.Select(w => w.Start));
        Assert.Equal(4, windows.Train.Stride);
    }

    // ---------------------------------------------------------------- explicit boundaries (ETTh1 protocol)

    [Fact]
    public void AtRows_InputsReachBack_ReproducesTheEtth1Rule()
    {
        // In miniature: training rows 0..19, validation 20..29, test 30..35, rows 36.. unused; L = 4, H = 2.
        var windows = Raw(Coded(1, 40), window: 4, horizon: 2, ForecastSplit.AtRows(20, 30, 36));

        Assert.Equal(Enumerable.Range(0, 15), windows.Train.Select(w => w.Start));        // last target row 19
        Assert.Equal(Enumerable.Range(16, 9), windows.Validation.Select(w => w.Start));   // from row 20 − L
        Assert.Equal(Enumerable.Range(26, 5), windows.Test.Select(w => w.Start));         // from row 30 − L; last target row 35

        // The first validation window reads rows 16..19 (training rows) and predicts rows 20..21.
        var (inputs, targets, _) = Fill(windows, windows.Validation, 0);
        Assert.Equal([160, 170, 180, 190], inputs);
        Assert.Equal([200, 210], targets);
        // The last test window predicts rows 34..35.
        Assert.Equal([340, 350], Fill(windows, windows.Test, windows.Test.Count - 1).Targets);
    }

    [Fact]
    public void AtRows_Etth1Sizes_GiveThePublishedWindowCounts()
    {
        // ETTh1: 17,420 rows; train 0..8639, validation 8640..11519, test 11520..14399; L = H = 96.
        var data = new TimeSeriesSet(["OT"], [Enumerable.Range(0, 17_420).Select(t => (float)t).ToArray()]);
        var windows = new ForecastWindows(data, new ForecastWindowOptions { Window = 96, Horizon = 96, Split = ForecastSplit.AtRows(8640, 11520, 14400) });

        Assert.Equal((8449, 2785, 2785), (windows.Train.Count, windows.Validation.Count, windows.Test.Count));
        Assert.Equal(8640 - 96, windows.Validation[0].Start);
        Assert.Equal(11520 - 96, windows.Test[0].Start);
        Assert.Equal(14400 - 96 - 96, windows.Test[^1].Start);
        // Standardised with rows 0..8639 only: the values 0..8639 have mean 4319.5 and population variance (8640² − 1) / 12.
        Assert.Equal(4319.5f, windows.InputMean![0]);
        Assert.Equal((float)Math.Sqrt((8640.0 * 8640 - 1) / 12), windows.InputStd![0]);
    }

    [Fact]
    public void AtRows_WithoutReachBack_KeepsWindowsInsideTheirPart()
    {
        var windows = Raw(Coded(1, 40), window: 4, horizon: 2, ForecastSplit.AtRows(20, 30, 36, inputsReachBack: false));
        Assert.Equal(Enumerable.Range(20, 5), windows.Validation.Select(w => w.Start));
        Assert.Equal([30], windows.Test.Select(w => w.Start));
    }

    [Fact]
    public void AtRows_ValidationWithoutTest_RunsToTheEnd()
    {
        var windows = Raw(Coded(1, 40), window: 4, horizon: 2, ForecastSplit.AtRows(20));
        Assert.Equal(Enumerable.Range(16, 19), windows.Validation.Select(w => w.Start)); // last start 34: targets 38..39
        Assert.Empty(windows.Test);
    }

    [Fact]
    public void AtRows_BoundariesPastTheSeriesEnd_AreClipped()
    {
        var windows = Raw(Coded(1, 25), window: 4, horizon: 2, ForecastSplit.AtRows(20, 30, 36));
        Assert.Equal(Enumerable.Range(16, 4), windows.Validation.Select(w => w.Start)); // targets up to row 24
        Assert.Empty(windows.Test);
    }

    [Fact]
    public void Splits_RefuseImpossibleBoundaries()
    {
        Assert.Throws<ArgumentException>(() => ForecastSplit.Fractional(0.7, 0.3));
        Assert.Throws<ArgumentException>(() => ForecastSplit.Fractional(-0.1));
        Assert.Throws<ArgumentException>(() => ForecastSplit.Fractional(double.NaN));
        Assert.Throws<ArgumentException>(() => ForecastSplit.AtRows(0));
        Assert.Throws<ArgumentException>(() => ForecastSplit.AtRows(20, 10));
        Assert.Throws<ArgumentException>(() => ForecastSplit.AtRows(20, 30, 25));
    }

    // ---------------------------------------------------------------- several series

    [Fact]
    public void Series_NeverMixInOneWindow()
    {
        // The middle series is too short for any window; the others have a few in each part.
        var data = Coded(2, 30, 3, 50);
        var windows = Raw(data, window: 4, horizon: 3, ForecastSplit.Fractional(0.3), stride: 2);
        Assert.Equal(0, windows.Train.CountInSeries(1));

        foreach (ForecastWindowSet part in new[] { windows.Train, windows.Validation })
        {
            Assert.True(part.Count > 0);
            Assert.Equal(part.ToList(), Enumerable.Range(0, part.Count).Select(i => part[i]).ToList());
            var (inputs, targets, _) = Fill(windows, part, All(part));
            for (int b = 0; b < part.Count; b++)
            {
                ForecastWindow w = part[b];
                for (int t = 0; t < 4; t++)
                    for (int k = 0; k < 2; k++)
                        Assert.Equal(Code(w.Series, w.Start + t, k), inputs[(b * 4 + t) * 2 + k]);
                for (int h = 0; h < 3; h++)
                    for (int k = 0; k < 2; k++)
                        Assert.Equal(Code(w.Series, w.Start + 4 + h, k), targets[(b * 3 + h) * 2 + k]);
            }
        }
        Assert.Equal([0, 2], windows.Train.Select(w => w.Series).Distinct());
    }

    [Fact]
    public void Statistics_ComeFromTheTrainingRowsOfEverySeriesOnly()
    {
        // Column a: training rows small, validation rows huge. Column b: constant over the training rows.
        float[] first = [1, 5, 2, 5, 3, 5, 4, 5, 1e6f, 9, 1e6f, 9];     // 6 rows, fractional 1/3 → 4 training rows
        float[] second = [10, 5, 20, 5, 30, 5, 1e6f, 9];                  // 4 rows → 3 training rows (4 − round(4/3))
        var data = new TimeSeriesSet(["a", "b"], [first, second]);
        var windows = new ForecastWindows(data, new ForecastWindowOptions { Window = 1, Horizon = 1, Split = ForecastSplit.Fractional(1 / 3.0) });

        double[] training = [1, 2, 3, 4, 10, 20, 30];
        double mean = training.Average();
        double std = Math.Sqrt(training.Sum(v => (v - mean) * (v - mean)) / training.Length);
        Assert.Equal([(float)mean, 5f], windows.InputMean!);
        Assert.Equal([(float)std, 1f], windows.InputStd!);  // b's deviation is 0: guarded to 1
        Assert.Equal(windows.InputMean!, windows.TargetMean!);
        Assert.Equal(windows.InputStd!, windows.TargetStd!);
    }

    [Fact]
    public void Standardize_AppliesTheTrainingStatistics()
    {
        var data = Coded(2, 50);
        var windows = new ForecastWindows(data, new ForecastWindowOptions { Window = 3, Horizon = 2, Split = ForecastSplit.Fractional(0.2) });
        float[] mean = windows.InputMean!, std = windows.InputStd!;
        var (inputs, targets, _) = Fill(windows, windows.Validation, 2); // starts at row 42
        Assert.Equal((Code(0, 42, 1) - mean[1]) / std[1], inputs[1]);
        Assert.Equal((Code(0, 46, 0) - mean[0]) / std[0], targets[^2]);
    }

    [Fact]
    public void WithoutStandardize_StatisticsAreAbsent()
    {
        var windows = Raw(Coded(1, 10), 2, 1, ForecastSplit.Fractional(0));
        Assert.Null(windows.InputMean);
        Assert.Null(windows.TargetStd);
    }

    // ---------------------------------------------------------------- columns

    [Fact]
    public void Columns_AreTakenInTheGivenOrder()
    {
        var windows = new ForecastWindows(Coded(3, 10), new ForecastWindowOptions
        {
            Window = 2, Horizon = 1, Split = ForecastSplit.Fractional(0), Standardize = false,
            InputColumns = ["c", "a"], TargetColumns = ["b"],
        });
        Assert.Equal((2, 1), (windows.InputSize, windows.OutputSize));
        var (inputs, targets, _) = Fill(windows, windows.Train, 3);
        Assert.Equal([32, 30, 42, 40], inputs);
        Assert.Equal([51], targets);
    }

    [Fact]
    public void BadOptions_AreRefused()
    {
        var data = Coded(2, 20);
        ForecastWindowOptions Options(int window = 3) => new() { Window = window, Horizon = 2, Split = ForecastSplit.Fractional(0.2) };

        Assert.Contains("No training window fits", Assert.Throws<ArgumentException>(() => new ForecastWindows(data, Options(window: 15))).Message);
        Assert.Throws<ArgumentException>(() => new ForecastWindows(data, Options() with { InputColumns = ["z"] }));
        Assert.Throws<ArgumentException>(() => new ForecastWindows(data, Options() with { InputColumns = [] }));
        Assert.Equal("A column is listed twice among the target columns.",
            Assert.Throws<ArgumentException>(() => new ForecastWindows(data, Options() with { TargetColumns = ["a", "a"] })).Message);
        Assert.Throws<ArgumentOutOfRangeException>(() => new ForecastWindows(data, Options() with { Stride = 0 }));
        var error = Assert.Throws<ArgumentException>(() => new ForecastWindows(data,
            Options() with { InputColumns = ["a"], TargetColumns = ["b"], WindowNormalization = WindowNormalization.Mean }));
        Assert.Contains("'b' is not an input", error.Message);
    }

    [Fact]
    public void Fill_RefusesWrongBuffersAndForeignWindows()
    {
        var data = Coded(1, 20);
        var windows = Raw(data, 3, 2, ForecastSplit.Fractional(0.2));
        var other = Raw(data, 3, 2, ForecastSplit.Fractional(0.2));
        Assert.Throws<ArgumentException>(() => windows.Fill(windows.Train, [0], new float[2], new float[2], default));
        Assert.Throws<ArgumentException>(() => windows.Fill(windows.Train, [0], new float[3], new float[2], new float[2]));
        Assert.Throws<ArgumentException>(() => windows.Fill(other.Train, [0], new float[3], new float[2], default));
        Assert.Throws<ArgumentOutOfRangeException>(() => windows.Fill(windows.Train, [windows.Train.Count], new float[3], new float[2], default));
        Assert.Throws<ArgumentException>(() => windows.Fill([new ForecastWindow(0, 16)], new float[3], new float[2], default));
        windows.Fill([new ForecastWindow(0, 15)], new float[3], new float[2], default);
    }

    // ---------------------------------------------------------------- per-window normalisation

    /// <summary>Two columns with a level shift half way, and a third that only trends.</summary>
    private static TimeSeriesSet Shifting(int rows = 200)
    {
        var values = new float[rows * 3];
        for (int t = 0; t < rows; t++)
        {
            values[t * 3] = MathF.Sin(t * 0.3f) + (t >= rows / 2 ? 40 : 0);
            values[t * 3 + 1] = 100 + 3 * MathF.Cos(t * 0.7f) - (t >= rows / 2 ? 25 : 0);
            values[t * 3 + 2] = 0.01f * t;
        }
        return new TimeSeriesSet(["x", "y", "z"], [values]);
    }

    private static ForecastWindows Normalised(WindowNormalization mode, IReadOnlyList<string>? targets = null) =>
        new(Shifting(), new ForecastWindowOptions
        {
            Window = 12, Horizon = 4, Split = ForecastSplit.Fractional(0.25), WindowNormalization = mode, TargetColumns = targets,
        });

    [Theory]
    [InlineData(WindowNormalization.Mean)]
    [InlineData(WindowNormalization.Last)]
    public void WindowNormalization_RestoringOffsets_GivesTheStandardisedTargets(WindowNormalization mode)
    {
        var plain = Normalised(WindowNormalization.None, ["y", "x"]);
        var relative = Normalised(mode, ["y", "x"]);
        foreach (ForecastWindowSet part in new[] { relative.Train, relative.Validation })
        {
            var (_, expected, noOffsets) = Fill(plain, part == relative.Train ? plain.Train : plain.Validation, All(part));
            var (_, targets, offsets) = Fill(relative, part, All(part));
            Assert.All(noOffsets, o => Assert.Equal(0, o));
            Assert.Contains(offsets, o => Math.Abs(o) > 0.5);

            relative.RestoreOffsets(targets, offsets);
            for (int v = 0; v < targets.Length; v++) Assert.Equal(expected[v], targets[v], 1e-5f);
        }
    }

    [Theory]
    [InlineData(WindowNormalization.None)]
    [InlineData(WindowNormalization.Mean)]
    [InlineData(WindowNormalization.Last)]
    public void ToOriginalUnits_OfTheFilledTargets_GivesTheRawValues(WindowNormalization mode)
    {
        TimeSeriesSet data = Shifting();
        var windows = Normalised(mode);
        var (_, targets, offsets) = Fill(windows, windows.Validation, All(windows.Validation));
        windows.ToOriginalUnits(targets, offsets);
        for (int b = 0; b < windows.Validation.Count; b++)
            for (int h = 0; h < 4; h++)
                for (int k = 0; k < 3; k++)
                {
                    float raw = data.Rows(0)[(windows.Validation[b].Start + 12 + h) * 3 + k];
                    Assert.Equal(raw, targets[(b * 4 + h) * 3 + k], Math.Max(1e-4f, Math.Abs(raw) * 1e-5f));
                }
    }

    [Fact]
    public void MeanNormalization_SubtractsTheMeanOfTheStandardisedWindow()
    {
        var plain = Normalised(WindowNormalization.None, ["y"]);
        var relative = Normalised(WindowNormalization.Mean, ["y"]);
        int index = relative.Train.Count - 1;
        var (standardised, _, _) = Fill(plain, plain.Train, index);
        var (inputs, _, offsets) = Fill(relative, relative.Train, index);

        for (int i = 0; i < 3; i++)
        {
            double sum = 0;
            for (int t = 0; t < 12; t++) sum += standardised[t * 3 + i];
            float offset = (float)(sum / 12);
            for (int t = 0; t < 12; t++) Assert.Equal(standardised[t * 3 + i] - offset, inputs[t * 3 + i]);
            if (i == 1) Assert.Equal(offset, offsets[0]); // the target y is input 1
        }
        Assert.Equal([1], relative.Normalizer.TargetInputIndex);
    }

    [Fact]
    public void LastNormalization_ZeroesTheLastInputStep()
    {
        var relative = Normalised(WindowNormalization.Last);
        var (inputs, _, offsets) = Fill(relative, relative.Validation, 0, 1);
        for (int b = 0; b < 2; b++)
            Assert.Equal([0f, 0f, 0f], inputs.AsSpan((b * 12 + 11) * 3, 3).ToArray());
        Assert.Equal(6, offsets.Length);
    }

    [Fact]
    public void Fill_WithoutOffsetBuffer_GivesTheSameBatch()
    {
        var relative = Normalised(WindowNormalization.Mean);
        int[] batch = [5, 0, 17];
        var (inputs, targets, _) = Fill(relative, relative.Train, batch);
        var inputs2 = new float[inputs.Length];
        var targets2 = new float[targets.Length];
        relative.Fill(relative.Train, batch, inputs2, targets2, default);
        Assert.Equal(inputs, inputs2);
        Assert.Equal(targets, targets2);
    }

    // ---------------------------------------------------------------- MASE scales

    [Fact]
    public void SeasonalNaiveScales_ComeFromTheTrainingRows_InEitherUnits()
    {
        // Column a: 0, 2, 4, … over training rows 0..7 (steps of 2), then a jump the scale must not see.
        float[] rows = [.. Enumerable.Range(0, 10).SelectMany(t => new[] { t < 8 ? 2f * t : 1000f, 1f })];
        var data = new TimeSeriesSet(["a", "b"], [rows]);
        var windows = new ForecastWindows(data, new ForecastWindowOptions { Window = 2, Horizon = 1, Split = ForecastSplit.Fractional(0.2) });

        double[] original = windows.SeasonalNaiveScales();
        Assert.Equal([2.0, 0.0], original);
        Assert.Equal(4.0, windows.SeasonalNaiveScales(seasonLength: 2)[0]);
        Assert.Equal(2.0 / windows.TargetStd![0], windows.SeasonalNaiveScales(originalUnits: false)[0], 12);
    }

    [Fact]
    public void Mase_IsTheSameInOriginalAndStandardisedUnits()
    {
        var windows = Normalised(WindowNormalization.Mean);
        var (_, targets, offsets) = Fill(windows, windows.Validation, All(windows.Validation));
        float[] forecasts = [.. targets.Select((v, i) => v + 0.1f * MathF.Sin(i))];

        float[] standardisedTruth = [.. targets], standardisedForecast = [.. forecasts];
        windows.RestoreOffsets(standardisedTruth, offsets);
        windows.RestoreOffsets(standardisedForecast, offsets);
        var standardised = new ForecastMetrics(3, windows.SeasonalNaiveScales(originalUnits: false));
        standardised.Add(standardisedForecast, standardisedTruth);

        windows.ToOriginalUnits(targets, offsets);
        windows.ToOriginalUnits(forecasts, offsets);
        var original = new ForecastMetrics(3, windows.SeasonalNaiveScales());
        original.Add(forecasts, targets);

        Assert.Equal(standardised.Mase!.Value, original.Mase!.Value, 1e-3);
        Assert.NotEqual(standardised.Mae, original.Mae, 1e-3);
    }
}
