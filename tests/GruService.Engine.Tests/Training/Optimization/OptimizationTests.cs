using GruService.Engine.Training.Optimization;

namespace GruService.Engine.Tests.Training.Optimization;

public class OptimizationTests
{
    /// <summary>torch.optim.Adam / AdamW written out in double for a few steps of a fixed gradient sequence.</summary>
    private static double[] Reference(OptimizerKind kind, double[] start, double[][] gradients, double lr, double wd)
    {
        double[] p = (double[])start.Clone(), m = new double[p.Length], v = new double[p.Length];
        for (int t = 1; t <= gradients.Length; t++)
        {
            for (int i = 0; i < p.Length; i++)
            {
                double g = gradients[t - 1][i];
                if (kind == OptimizerKind.Adam) g += wd * p[i];
                else p[i] *= 1 - lr * wd;
                m[i] = 0.9 * m[i] + 0.1 * g;
                v[i] = 0.999 * v[i] + 0.001 * g * g;
                double mHat = m[i] / (1 - Math.Pow(0.9, t)), vHat = v[i] / (1 - Math.Pow(0.999, t));
                p[i] -= lr * mHat / (Math.Sqrt(vHat) + 1e-8);
            }
        }
        return p;
    }

    [Theory]
    [InlineData(OptimizerKind.Adam, 0.0)]
    [InlineData(OptimizerKind.Adam, 0.1)]
    [InlineData(OptimizerKind.AdamW, 0.1)]
    public void Update_FollowsPyTorchsRule(OptimizerKind kind, double weightDecay)
    {
        double[] start = [0.5, -1.25, 2.0, 0.0];
        double[][] gradients = [[0.1, -0.2, 0.3, 0.0], [0.05, 0.4, -0.3, 1e-3], [-0.2, 0.1, 0.2, -1e-3]];
        double[] expected = Reference(kind, start, gradients, lr: 0.01, wd: weightDecay);

        float[] parameters = [.. start.Select(x => (float)x)];
        var adam = new AdamOptimizer(parameters.Length, kind, (float)weightDecay);
        foreach (double[] g in gradients)
            adam.Update(parameters, g.Select(x => (float)x).ToArray(), 0.01f);

        Assert.Equal(3, adam.Step);
        for (int i = 0; i < expected.Length; i++)
            Assert.Equal(expected[i], parameters[i], 5e-6);
    }

    [Fact]
    public void AdamW_DecaysDifferentlyFromAdamWithL2()
    {
        float[] a = [1f], b = [1f];
        new AdamOptimizer(1, OptimizerKind.Adam, 0.5f).Update(a, [0f], 0.1f);
        new AdamOptimizer(1, OptimizerKind.AdamW, 0.5f).Update(b, [0f], 0.1f);
        Assert.Equal(0.9f, a[0], 1e-5f);    // Adam's first step moves by lr whatever the gradient's size
        Assert.Equal(0.95f, b[0], 1e-5f);   // AdamW: p·(1 − lr·wd), and a zero gradient adds nothing
    }

    [Fact]
    public void Restore_ContinuesExactlyWhereTheSavedOptimiserWas()
    {
        float[] straight = [1f, 2f], resumed = [1f, 2f];
        var first = new AdamOptimizer(2, OptimizerKind.AdamW, 0.01f);
        first.Update(straight, [0.3f, -0.1f], 0.01f);
        resumed = [.. straight];
        var copy = new AdamOptimizer(2, OptimizerKind.AdamW, 0.01f);
        copy.Restore(first.FirstMoment, first.SecondMoment, first.Step);

        first.Update(straight, [0.2f, 0.5f], 0.01f);
        copy.Update(resumed, [0.2f, 0.5f], 0.01f);
        Assert.Equal(straight, resumed);
    }

    [Fact]
    public void ClipByGlobalNorm_ScalesOnlyAboveTheLimit()
    {
        float[] big = [3f, 4f];
        Assert.Equal(5f, GradientClipping.ClipByGlobalNorm(big, 1f));
        Assert.Equal(1f, MathF.Sqrt(big[0] * big[0] + big[1] * big[1]), 1e-5f);
        Assert.Equal(0.6f, big[0], 1e-5f);

        float[] small = [0.3f, 0.4f];
        Assert.Equal(0.5f, GradientClipping.ClipByGlobalNorm(small, 1f), 1e-6f);
        Assert.Equal([0.3f, 0.4f], small);
    }

    [Fact]
    public void Schedule_WarmsUpThenFollowsItsShape()
    {
        var warm = new LearningRateSchedule(1f, ScheduleKind.Constant, WarmupSteps: 4);
        Assert.Equal([0.25f, 0.5f, 0.75f, 1f, 1f], Enumerable.Range(0, 5).Select(s => warm.At(0, 10, s, 100)));

        var step = new LearningRateSchedule(1f, ScheduleKind.Step, StepEpochs: 2, Gamma: 0.5f);
        Assert.Equal([1f, 1f, 0.5f, 0.5f, 0.25f], Enumerable.Range(0, 5).Select(e => step.At(e, 5, e * 10, 10)));

        var cosine = new LearningRateSchedule(1f, ScheduleKind.Cosine, MinLearningRate: 0.1f);
        Assert.Equal(1f, cosine.At(0, 10, 0, 10), 1e-6f);
        Assert.Equal(0.55f, cosine.At(5, 10, 50, 10), 1e-5f);
        Assert.Equal(0.1f, cosine.At(9, 10, 100, 10), 1e-6f);
    }
}
