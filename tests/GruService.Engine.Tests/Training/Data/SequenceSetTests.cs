using GruService.Engine.Training.Data;

namespace GruService.Engine.Tests.Training.Data;

public class SequenceSetTests
{
    /// <summary>Sequence i has length 1 + i % 4; step t, feature f holds i·100 + t·10 + f.</summary>
    private static SequenceSet Labelled(IReadOnlyList<string> labels, int features = 2, IReadOnlyList<string>? classes = null) =>
        new(features,
            [.. labels.Select((_, i) => Enumerable.Range(0, (1 + i % 4) * features).Select(v => i * 100f + v / features * 10 + v % features).ToArray())],
            labels, classes);

    private static string[] Labels(params (string Label, int Count)[] counts) =>
        [.. Enumerable.Range(0, counts.Max(c => c.Count)).SelectMany(k => counts.Where(c => k < c.Count).Select(c => c.Label))];

    [Fact]
    public void Classes_AreTheDistinctLabelsInOrdinalOrder()
    {
        var set = Labelled(["b", "a", "B", "b", "ä"]);
        Assert.Equal(["B", "a", "b", "ä"], set.Classes);
        Assert.Equal([2, 1, 0, 2, 3], Enumerable.Range(0, 5).Select(set.Label));
    }

    [Fact]
    public void Classes_AreInNumericOrder_WhenEveryLabelIsAWholeNumber()
    {
        // Class indices 0..10 written as labels: the head's index of each class is then the number itself.
        string[] labels = [.. Enumerable.Range(0, 11).Reverse().Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture)), "-3"];
        var set = Labelled(labels);
        Assert.Equal(["-3", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "10"], set.Classes);
        Assert.Equal(11, set.Label(0)); // "10", after "-3" and "0" … "9"
    }

    [Theory]
    [InlineData(new[] { "10", "9", "x" }, new[] { "10", "9", "x" })] // not all numbers: ordinal
    [InlineData(new[] { "10", "9", "09" }, new[] { "09", "10", "9" })] // "09" is not how a number is written: ordinal
    [InlineData(new[] { "10", "9", "+9" }, new[] { "+9", "10", "9" })]
    public void Classes_StayInOrdinalOrder_WhenALabelIsNotAWholeNumberAsWritten(string[] labels, string[] expected) =>
        Assert.Equal(expected, Labelled(labels).Classes);

    [Fact]
    public void Classes_CanBeGiven_AndUnknownLabelsAreRefused()
    {
        var set = Labelled(["dog", "cat"], classes: ["dog", "cat", "bird"]);
        Assert.Equal([0, 1], new[] { set.Label(0), set.Label(1) });
        Assert.Contains("'cow'", Assert.Throws<ArgumentException>(() => Labelled(["dog", "cow"], classes: ["dog", "cat"])).Message);
        Assert.Throws<ArgumentException>(() => Labelled(["dog"], classes: ["dog", "dog"]));
    }

    [Fact]
    public void Sequences_AreCheckedAndNotCopied()
    {
        float[] steps = [1, 2, 3, 4, 5, 6];
        var set = new SequenceSet(3, [steps], ["x"]);
        Assert.Equal(2, set.Length(0));
        Assert.True(set.Steps(0) == steps.AsSpan());
        Assert.Throws<ArgumentException>(() => new SequenceSet(4, [steps], ["x"]));
        Assert.Throws<ArgumentException>(() => new SequenceSet(1, [[]], ["x"]));
        Assert.Throws<ArgumentException>(() => new SequenceSet(1, [[float.NaN]], ["x"]));
        Assert.Throws<ArgumentException>(() => new SequenceSet(1, [[1f]], ["x", "y"]));
    }

    [Fact]
    public void Split_IsStratified_WithinOnePerClass()
    {
        var set = Labelled(Labels(("common", 50), ("middle", 31), ("rare", 7), ("single", 1)));
        SequenceSplit split = set.Split(0.2, seed: 11);

        Assert.Equal(Enumerable.Range(0, set.Count), split.Train.Concat(split.Validation).Order());
        for (int c = 0; c < set.Classes.Count; c++)
        {
            int total = Enumerable.Range(0, set.Count).Count(i => set.Label(i) == c);
            int held = split.Validation.Count(i => set.Label(i) == c);
            Assert.InRange(held, total * 0.2 - 1, total * 0.2 + 1);
            Assert.True(total - held >= 1, "every class keeps a training sequence");
        }
        Assert.Equal([10, 6, 1, 0], set.Classes.Select((_, c) => split.Validation.Count(i => set.Label(i) == c)));
    }

    [Fact]
    public void Split_SameSeed_SameSplit_DifferentSeed_Different()
    {
        var set = Labelled(Labels(("a", 40), ("b", 40)));
        Assert.Equal(set.Split(0.25, 5).Validation, set.Split(0.25, 5).Validation);
        Assert.NotEqual(set.Split(0.25, 5).Validation, set.Split(0.25, 6).Validation);
        Assert.Empty(set.Split(0, 5).Validation);
        Assert.Throws<ArgumentOutOfRangeException>(() => set.Split(1, 5));
    }

    [Fact]
    public void Statistics_ComeFromEveryStepOfTheTrainingSequencesOnly()
    {
        var set = Labelled(Labels(("a", 12), ("b", 8)));
        SequenceSplit split = set.Split(0.25, seed: 2);
        for (int f = 0; f < 2; f++)
        {
            double[] values = [.. split.Train.SelectMany(i => Enumerable.Range(0, set.Length(i)).Select(t => (double)set.Steps(i)[t * 2 + f]))];
            double mean = values.Average();
            Assert.Equal((float)mean, split.InputMean![f]);
            Assert.Equal((float)Math.Sqrt(values.Sum(v => (v - mean) * (v - mean)) / values.Length), split.InputStd![f]);
        }
        Assert.Null(set.Split(0.25, 2, standardize: false).InputMean);
    }

    [Fact]
    public void ConstantFeature_GetsStandardDeviationOne()
    {
        var set = new SequenceSet(2, [[1, 7, 2, 7], [3, 7]], ["x", "y"]);
        SequenceSplit split = set.Split(0, 1);
        Assert.Equal([2f, 7f], split.InputMean!);
        Assert.Equal(1f, split.InputStd![1]);
    }

    [Fact]
    public void Fill_GivesARaggedStandardisedBatch()
    {
        var set = Labelled(["a", "b", "a", "b", "a"]);
        SequenceSplit split = set.Split(0, 1);
        float[] mean = split.InputMean!, std = split.InputStd!;
        int[] positions = [3, 0, 2];                  // sequences 3, 0, 2: lengths 4, 1, 3
        int steps = split.TotalSteps(split.Train, positions);
        Assert.Equal(8, steps);

        var inputs = new float[steps * 2];
        var lengths = new int[3];
        var labels = new int[3];
        split.Fill(split.Train, positions, inputs, lengths, labels);

        Assert.Equal([4, 1, 3], lengths);
        Assert.Equal([1, 0, 0], labels);
        float[] expected = [.. new[] { 3, 0, 2 }.SelectMany(i => set.Steps(i).ToArray().Select((v, k) => (v - mean[k % 2]) / std[k % 2]))];
        Assert.Equal(expected, inputs);
        Assert.Throws<ArgumentException>(() => split.Fill(split.Train, positions, new float[steps], lengths, labels));
    }
}
