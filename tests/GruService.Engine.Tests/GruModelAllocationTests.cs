namespace GruService.Engine.Tests;

public class GruModelAllocationTests
{
    [Theory]
    [InlineData("model-5")]  // bidirectional, two layers, normalised input
    [InlineData("model-40")] // reset-before-matmul, two layers
    public void Predict_AllocatesNothingThatGrowsWithSequenceLength(string name)
    {
        GruModel model = ReferenceCase.Load(name).Model();
        long shortRun = AllocatedBytes(model, steps: 4);
        long longRun = AllocatedBytes(model, steps: 400);
        // Scratch buffers come from the array pool; what remains per call (the batch plan) does not depend on length.
        Assert.True(longRun == shortRun, $"4 steps allocated {shortRun} bytes, 400 steps {longRun} bytes");
        Assert.True(shortRun < 1024, $"a call allocated {shortRun} bytes");
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
