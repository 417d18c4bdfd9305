using GruService.Engine.Training;

namespace GruService.Engine.Tests.Training;

public class GruTrainingPassAllocationTests
{
    [Theory]
    [InlineData(true, GruTask.Forecast)]
    [InlineData(false, GruTask.Classify)]
    public void ForwardAndBackward_AfterWarmUp_AllocateNothing_AtAnySequenceLength(bool linearBeforeReset, GruTask task)
    {
        GruConfig config = TrainingTestData.Config(task, linearBeforeReset, layers: 2, bidirectional: true, hiddenSize: 8);
        long shortRun = AllocatedBytes(config, steps: 4);
        long longRun = AllocatedBytes(config, steps: 400);
        Assert.True(shortRun == 0 && longRun == 0, $"4 steps allocated {shortRun} bytes, 400 steps {longRun} bytes");
    }

    private static long AllocatedBytes(GruConfig config, int steps)
    {
        var parameters = TrainingTestData.Parameters<float>(config, 1);
        int[] lengths = [steps, steps / 2, steps];
        float[] inputs = TrainingTestData.ToFloat(TrainingTestData.Inputs(config, lengths, 2));
        TrainingTargets<float> targets = config.Task == GruTask.Forecast
            ? TrainingTargets<float>.Forecast(new float[lengths.Length * config.HeadOutputs], ForecastLoss.Huber)
            : TrainingTargets<float>.Classify(new[] { 0, 2, 1 }, new[] { 1f, 2f, 0.5f });
        var options = new TrainingOptions(0.2);
        var random = new Random(3);
        var gradient = new float[parameters.Values.Length];
        var pass = new GruTrainingPass<float>(config);
        return AllocationMeter.LeastBytesPerCall(() =>
        {
            pass.Forward(parameters, inputs, lengths, targets, options, random);
            pass.Backward(parameters, gradient);
        });
    }
}
