using GruService.Engine.Training.Data;

namespace GruService.Engine.Tests.Training.Data;

public class WindowNormalizerTests
{
    // Three steps of two inputs; the targets are input 1, then input 0.
    private static float[] Window() => [1, 10, 2, 20, 6, 60];

    [Fact]
    public void Mean_SubtractsEachColumnsMean_AndMapsTargetsToTheirInput()
    {
        var normalizer = new WindowNormalizer(WindowNormalization.Mean, 2, [1, 0]);
        float[] window = Window();
        var offsets = new float[2];
        normalizer.Normalize(window, offsets);
        Assert.Equal([-2, -20, -1, -10, 3, 30], window);
        Assert.Equal([30f, 3f], offsets);
    }

    [Fact]
    public void Last_SubtractsTheLastStep()
    {
        var normalizer = new WindowNormalizer(WindowNormalization.Last, 2, [1, 0]);
        float[] window = Window();
        var offsets = new float[2];
        normalizer.Normalize(window, offsets);
        Assert.Equal([-5, -50, -4, -40, 0, 0], window);
        Assert.Equal([60f, 6f], offsets);
    }

    [Fact]
    public void None_LeavesTheWindowAndGivesZeroOffsets()
    {
        var normalizer = new WindowNormalizer(WindowNormalization.None, 2, [1]);
        float[] window = Window();
        float[] offsets = [7];
        normalizer.Normalize(window, offsets);
        Assert.Equal(Window(), window);
        Assert.Equal([0f], offsets);
    }

    [Fact]
    public void TargetOffsets_RemoveThenRestore_IsTheIdentity()
    {
        var normalizer = new WindowNormalizer(WindowNormalization.Mean, 2, [1, 0]);
        float[] targets = [70, 7, 80, 8];   // two horizon steps of (input 1, input 0)
        float[] offsets = [30, 3];
        normalizer.RemoveOffsets(targets, offsets);
        Assert.Equal([40f, 4f, 50f, 5f], targets);
        normalizer.RestoreOffsets(targets, offsets);
        Assert.Equal([70f, 7f, 80f, 8f], targets);
    }

    [Fact]
    public void WindowsOfAnyLength_AreAccepted_AndBadShapesRefused()
    {
        var normalizer = new WindowNormalizer(WindowNormalization.Mean, 2, [0]);
        var offsets = new float[1];
        float[] single = [4, 5];
        normalizer.Normalize(single, offsets);
        Assert.Equal([0f, 0f], single);
        Assert.Throws<ArgumentException>(() => normalizer.Normalize(new float[3], offsets));
        Assert.Throws<ArgumentException>(() => normalizer.Normalize(new float[4], new float[2]));
        Assert.Throws<ArgumentException>(() => new WindowNormalizer(WindowNormalization.Mean, 2, [2]));
        Assert.Throws<ArgumentException>(() => new WindowNormalizer(WindowNormalization.Mean, 2, []));
    }

    [Fact]
    public void WideWindows_UseRentedScratch()
    {
        const int inputs = 300;
        var normalizer = new WindowNormalizer(WindowNormalization.Mean, inputs, [299]);
        float[] window = [.. Enumerable.Range(0, 2 * inputs).Select(v => (float)v)];
        var offsets = new float[1];
        normalizer.Normalize(window, offsets);
        Assert.Equal(299 + 150f, offsets[0]);
        Assert.All(window.AsSpan(0, inputs).ToArray(), v => Assert.Equal(-150f, v));
    }
}
