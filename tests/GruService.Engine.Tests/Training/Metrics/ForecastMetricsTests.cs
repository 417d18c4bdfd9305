using GruService.Engine.Training.Metrics;

namespace GruService.Engine.Tests.Training.Metrics;

public class ForecastMetricsTests
{
    [Fact]
    public void MseAndMae_OverEveryValue()
    {
        var metrics = new ForecastMetrics(2);
        metrics.Add([1, 2], [2, 2]);       // errors −1, 0
        metrics.Add([3, 4], [5, 0]);       // errors −2, 4: batches accumulate
        Assert.Equal(4, metrics.Count);
        Assert.Equal((1 + 0 + 4 + 16) / 4.0, metrics.Mse, 12);
        Assert.Equal((1 + 0 + 2 + 4) / 4.0, metrics.Mae, 12);
        Assert.Null(metrics.Mase);
    }

    [Fact]
    public void Empty_GivesNaN()
    {
        var metrics = new ForecastMetrics(1, [1.0]);
        Assert.True(double.IsNaN(metrics.Mse));
        Assert.Null(metrics.Mase);
    }

    [Fact]
    public void SeasonalNaiveScale_SeasonOne_IsTheMeanAbsoluteFirstDifference()
    {
        float[] training = [1, 3, 2, 5, 4];                 // |2| + |−1| + |3| + |−1| = 7 over 4
        Assert.Equal(1.75, ForecastMetrics.SeasonalNaiveScale(training, 1, 0));

        var metrics = new ForecastMetrics(1, [1.75]);
        metrics.Add([6, 6, 9], [4, 7, 6]);                  // errors 2, 1, 3: MAE 2
        Assert.Equal(2.0 / 1.75, metrics.Mase!.Value, 12);
        Assert.Equal(3, metrics.MaseCount);
    }

    [Fact]
    public void SeasonalNaiveScale_Season24_ComparesWithTheSameHourADayEarlier()
    {
        // Hourly: a daily pattern t % 24, raised by 3 on day two and by 5 on the half day three.
        float[] training = [.. Enumerable.Range(0, 60).Select(t => t % 24 + (t >= 24 ? 3f : 0) + (t >= 48 ? 2f : 0))];
        // Hours 24..47 differ from a day earlier by 3, hours 48..59 by 2: (24·3 + 12·2) / 36.
        double scale = ForecastMetrics.SeasonalNaiveScale(training, 1, 0, seasonLength: 24);
        Assert.Equal(96.0 / 36, scale, 12);
        // Season 1 sees the daily saw: 1 for 57 steps, −23 (+3 or +2) at the day boundaries 24 and 48.
        Assert.Equal((57 + 20 + 21) / 59.0, ForecastMetrics.SeasonalNaiveScale(training, 1, 0), 12);

        var metrics = new ForecastMetrics(1, [scale]);
        metrics.Add([10, 10, 10, 10], [14, 6, 14, 6]);      // MAE 4
        Assert.Equal(4 / (96.0 / 36), metrics.Mase!.Value, 12);   // 1.5
    }

    [Fact]
    public void SeasonalNaiveScale_ReadsOneColumnOfRowMajorRows()
    {
        float[] rows = [0, 100, 1, 90, 3, 70];                // column 1: 100, 90, 70
        Assert.Equal(15, ForecastMetrics.SeasonalNaiveScale(rows, 2, 1));
        Assert.Equal(30, ForecastMetrics.SeasonalNaiveScale(rows, 2, 1, seasonLength: 2));
        Assert.Equal(0, ForecastMetrics.SeasonalNaiveScale(rows, 2, 1, seasonLength: 3)); // n ≤ m: undefined
    }

    [Fact]
    public void Mase_ScalesEachSeriesAndColumnByItsOwnScale()
    {
        // Series 0 columns scaled by 1 and 10, series 1 by 2 and 20.
        var metrics = new ForecastMetrics(2, [1, 10, 2, 20]);
        metrics.Add([1, 10], [0, 0], series: 0);             // scaled 1, 1
        metrics.Add([4, 0, 0, 0], [0, 0, 0, 60], series: 1); // scaled 2, 0, 0, 3
        Assert.Equal((1 + 1 + 2 + 0 + 0 + 3) / 6.0, metrics.Mase!.Value, 12);

        var batched = new ForecastMetrics(2, [1, 10, 2, 20]);
        batched.Add([1, 10, 4, 0, 0, 0], [0, 0, 0, 0, 0, 60], [0, 1, 1]);
        Assert.Equal(metrics.Mase, batched.Mase);
        Assert.Equal(metrics.Mse, batched.Mse);
    }

    [Fact]
    public void Mase_LeavesOutZeroScales()
    {
        // Column 1's training series was constant: its errors count in MSE and MAE, not in MASE.
        var metrics = new ForecastMetrics(2, [2, 0]);
        metrics.Add([4, 9], [0, 0]);
        Assert.Equal(2.0, metrics.Mase!.Value, 12);
        Assert.Equal(1, metrics.MaseCount);
        Assert.Equal(6.5, metrics.Mae, 12);

        var constant = new ForecastMetrics(1, [0]);
        constant.Add([1], [0]);
        Assert.Null(constant.Mase);
    }

    [Fact]
    public void BadShapes_AreRefused()
    {
        var metrics = new ForecastMetrics(2, [1, 1]);
        Assert.Throws<ArgumentException>(() => metrics.Add([1, 2], [1]));
        Assert.Throws<ArgumentException>(() => metrics.Add([1, 2, 3], [1, 2, 3]));
        Assert.Throws<ArgumentOutOfRangeException>(() => metrics.Add([1, 2], [1, 2], series: 1));
        Assert.Throws<ArgumentException>(() => new ForecastMetrics(2, [1, 2, 3]));
    }
}
