using GruService.Engine.Training.Metrics;

namespace GruService.Engine.Tests.Training.Metrics;

public class ClassificationMetricsTests
{
    // actual    a a b b b c
    // predicted a b b b a a
    private static ClassificationMetrics Example(params string[] classes)
    {
        var metrics = new ClassificationMetrics(classes.Length == 0 ? ["a", "b", "c"] : classes);
        metrics.Add([0, 0, 1, 1, 1, 2], [0, 1, 1, 1, 0, 0]);
        return metrics;
    }

    [Fact]
    public void ConfusionMatrix_IsActualByPredicted()
    {
        ClassificationMetrics metrics = Example();
        long[][] matrix = metrics.ConfusionMatrix();
        Assert.Equal([1L, 1, 0], matrix[0]);
        Assert.Equal([1L, 2, 0], matrix[1]);
        Assert.Equal([1L, 0, 0], matrix[2]);
        Assert.Equal(2, metrics.Confusion(1, 1));
        Assert.Equal(["a", "b", "c"], metrics.Classes);
        Assert.Equal(6, metrics.Count);
    }

    [Fact]
    public void AccuracyAndMacroF1_ByHand()
    {
        ClassificationMetrics metrics = Example();
        Assert.Equal(0.5, metrics.Accuracy, 12);
        // a: TP 1, FP 2, FN 1 → 2/5.  b: TP 2, FP 1, FN 1 → 4/6.  c: no correct prediction → 0.
        Assert.Equal(0.4, metrics.F1(0)!.Value, 12);
        Assert.Equal(2 / 3.0, metrics.F1(1)!.Value, 12);
        Assert.Equal(0, metrics.F1(2)!.Value);
        Assert.Equal((0.4 + 2 / 3.0 + 0) / 3, metrics.MacroF1, 12);
    }

    [Fact]
    public void MacroF1_SkipsAClassWithNoExamplesAndNoPredictions()
    {
        ClassificationMetrics metrics = Example("a", "b", "c", "d");
        Assert.Null(metrics.F1(3));
        Assert.Equal(Example().MacroF1, metrics.MacroF1, 12);
        Assert.Equal([0L, 0, 0, 0], metrics.ConfusionMatrix()[3]);
    }

    [Fact]
    public void MacroF1_CountsAPredictedClassWithNoExamplesAsZero()
    {
        var metrics = new ClassificationMetrics(["a", "b"]);
        metrics.Add([0, 0, 0], [0, 0, 1]);
        Assert.Equal(0, metrics.F1(1)!.Value);                  // predicted once, never right
        Assert.Equal((0.8 + 0) / 2, metrics.MacroF1, 12);      // a: 2·2 / (2·2 + 0 + 1)
    }

    [Fact]
    public void AddScores_PredictsTheHighest_FirstOnATie()
    {
        var metrics = new ClassificationMetrics(["a", "b", "c"]);
        metrics.AddScores([0.1f, 0.7f, 0.2f, 0.4f, 0.2f, 0.4f], [1, 2]);
        Assert.Equal(1, metrics.Confusion(1, 1));
        Assert.Equal(1, metrics.Confusion(2, 0));
        Assert.Throws<ArgumentException>(() => metrics.AddScores([0.1f, 0.9f], [0]));
    }

    [Fact]
    public void EmptyAndOutOfRange()
    {
        var metrics = new ClassificationMetrics(["a", "b"]);
        Assert.True(double.IsNaN(metrics.Accuracy));
        Assert.True(double.IsNaN(metrics.MacroF1));
        Assert.Throws<ArgumentOutOfRangeException>(() => metrics.Add(2, 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => metrics.Add(0, -1));
    }
}
