using GruService.Engine.ModelFiles;
using GruService.Engine.Training;

namespace GruService.Engine.Tests.Training;

public class GruParametersTests
{
    [Fact]
    public void Tensors_AreTheModelFileTensorsInOrder_BackToBack()
    {
        GruConfig config = TrainingTestData.Config(GruTask.Classify, layers: 2, bidirectional: true);
        var parameters = new GruParameters<float>(config);

        var expected = ModelFile.ExpectedShapes(config).ToList();
        Assert.Equal(expected.Select(e => e.Key), parameters.Tensors.Select(t => t.Name));
        int offset = 0;
        for (int i = 0; i < expected.Count; i++)
        {
            ParameterTensor tensor = parameters.Tensors[i];
            Assert.Equal(expected[i].Value, tensor.Shape);
            Assert.Equal(offset, tensor.Offset);
            Assert.Equal(expected[i].Value.Aggregate(1L, (a, b) => a * b), tensor.Length);
            offset += tensor.Length;
        }
        Assert.Equal(offset, parameters.Values.Length);
        Assert.All(parameters.Values, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void Tensor_IsAViewOfTheFlatValues()
    {
        var parameters = new GruParameters<double>(TrainingTestData.Config(GruTask.Forecast, bidirectional: true));
        parameters.Tensor("gru.bias_hh_l0_reverse")[2] = 5;
        int offset = parameters.Tensors.Single(t => t.Name == "gru.bias_hh_l0_reverse").Offset;
        Assert.Equal(5, parameters.Values[offset + 2]);
        Assert.Throws<ArgumentException>(() => parameters.Tensor("gru.bias_hh_l1"));
    }

    [Theory]
    [InlineData("model-5")]  // bidirectional, two layers
    [InlineData("model-40")] // reset-before-matmul, two layers
    public void FromModel_ThenToModel_GivesBackTheSameModelFile(string name)
    {
        var reference = ReferenceCase.Load(name);
        GruModel model = reference.Model();

        GruModel copy = GruParameters<float>.FromModel(model).ToModel();
        GruModel viaDouble = GruParameters<double>.FromModel(model).ToModel();

        Assert.Equal(ModelFile.Write(model), ModelFile.Write(copy));
        Assert.Equal(ModelFile.Write(model), ModelFile.Write(viaDouble));
    }

    [Fact]
    public void InitializeLikePyTorch_DrawsUniformlyWithinEachModulesBound_AndASeedFixesTheValues()
    {
        GruConfig config = TrainingTestData.Config(GruTask.Forecast, layers: 2, bidirectional: true, hiddenSize: 16, horizon: 8, outputSize: 1);
        var parameters = new GruParameters<double>(config);
        parameters.InitializeLikePyTorch(new Random(3));

        foreach (ParameterTensor tensor in parameters.Tensors)
        {
            double bound = tensor.Name.StartsWith("head.") ? 1 / Math.Sqrt(2 * 16) : 1 / Math.Sqrt(16);
            double[] values = parameters.Values.AsSpan(tensor.Offset, tensor.Length).ToArray();
            Assert.All(values, v => Assert.InRange(v, -bound, bound));
            // Uniform over the whole range, not a narrower one: the extremes come close to the bound.
            Assert.True(values.Max() > 0.7 * bound && values.Min() < -0.7 * bound, $"{tensor.Name} spans [{values.Min()}, {values.Max()}] of ±{bound}");
        }

        var again = new GruParameters<double>(config);
        again.InitializeLikePyTorch(new Random(3));
        Assert.Equal(parameters.Values, again.Values);
    }

    [Fact]
    public void Clone_CopiesTheValues_AndIsIndependent()
    {
        var parameters = TrainingTestData.Parameters<float>(TrainingTestData.Config(GruTask.Classify), 4);
        GruParameters<float> copy = parameters.Clone();
        Assert.Equal(parameters.Values, copy.Values);
        Assert.Same(parameters.Config, copy.Config);

        copy.Values[0] += 1;
        Assert.NotEqual(parameters.Values[0], copy.Values[0]);
    }
}
