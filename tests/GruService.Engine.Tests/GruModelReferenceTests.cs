namespace GruService.Engine.Tests;

public class GruModelReferenceTests
{
    [Fact]
    public void ReferenceVectors_CoverEveryArchitectureAxis()
    {
        var configs = ReferenceCase.All().Select(c => c.Model().Config).ToList();
        Assert.True(configs.Count >= 20);
        Assert.Contains(configs, c => c.LinearBeforeReset);
        Assert.Contains(configs, c => !c.LinearBeforeReset);
        Assert.Contains(configs, c => c.Bidirectional);
        Assert.Contains(configs, c => c.NumLayers == 1);
        Assert.Contains(configs, c => c.NumLayers == 2);
        Assert.Contains(configs, c => c.NumLayers == 3);
        Assert.Contains(configs, c => c.Task == GruTask.Forecast && c.TargetMean is not null);
        Assert.Contains(configs, c => c.Task == GruTask.Forecast && c.TargetMean is null);
        Assert.Contains(configs, c => c.Task == GruTask.Classify);
        Assert.Contains(configs, c => c.InputMean is not null);
        Assert.Contains(configs, c => c.InputMean is null);
    }

    [Theory]
    [MemberData(nameof(ReferenceCase.Names), MemberType = typeof(ReferenceCase))]
    public void Predict_MatchesOnnxRuntime_ForEachSequenceAlone(string name)
    {
        var reference = ReferenceCase.Load(name);
        GruModel model = reference.Model();
        for (int s = 0; s < reference.Inputs.Length; s++)
        {
            float[] flat = reference.Inputs[s].SelectMany(step => step).ToArray();
            var output = new float[model.OutputsPerSequence];
            model.Predict(flat, [reference.Inputs[s].Length], output);
            ReferenceCase.AssertClose(reference.Expected[s], output, $"{name} sequence {s}");
        }
    }

    [Theory]
    [MemberData(nameof(ReferenceCase.Names), MemberType = typeof(ReferenceCase))]
    public void Predict_MatchesOnnxRuntime_ForRaggedBatch(string name)
    {
        var reference = ReferenceCase.Load(name);
        GruModel model = reference.Model();
        // The file's sequences, then the same ones again in reverse order: a ragged batch with repeated lengths.
        var sequences = reference.Inputs.Concat(reference.Inputs.Reverse()).ToArray();
        var expected = reference.Expected.Concat(reference.Expected.Reverse()).ToArray();
        float[] flat = sequences.SelectMany(seq => seq.SelectMany(step => step)).ToArray();
        int[] lengths = sequences.Select(seq => seq.Length).ToArray();
        var output = new float[lengths.Length * model.OutputsPerSequence];
        model.Predict(flat, lengths, output);
        for (int s = 0; s < sequences.Length; s++)
            ReferenceCase.AssertClose(expected[s], output.AsSpan(s * model.OutputsPerSequence, model.OutputsPerSequence), $"{name} batch item {s}");
    }
}
