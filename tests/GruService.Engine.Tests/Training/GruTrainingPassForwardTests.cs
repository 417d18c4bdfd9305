using System.Numerics.Tensors;
using GruService.Engine.Training;

namespace GruService.Engine.Tests.Training;

public class GruTrainingPassForwardTests
{
    [Theory]
    [MemberData(nameof(ReferenceCase.Names), MemberType = typeof(ReferenceCase))]
    public void Forward_OutputsMatchPredict_ForRaggedBatchOfReferenceModel(string name)
    {
        var reference = ReferenceCase.Load(name);
        GruModel model = reference.Model();
        GruConfig config = model.Config;
        // The file's sequences, then the same ones again in reverse order: a ragged batch with repeated lengths.
        var sequences = reference.Inputs.Concat(reference.Inputs.Reverse()).ToArray();
        float[] raw = [.. sequences.SelectMany(seq => seq.SelectMany(step => step))];
        int[] lengths = [.. sequences.Select(seq => seq.Length)];
        var expected = new float[lengths.Length * model.OutputsPerSequence];
        model.Predict(raw, lengths, expected);

        // The pass takes normalised inputs and answers in normalised target space: do the rest as Predict does.
        float[] inputs = [.. raw];
        if (config.InputMean is { } inputMean && config.InputStd is { } inputStd)
            for (int step = 0; step < inputs.Length / config.InputSize; step++)
            {
                Span<float> x = inputs.AsSpan(step * config.InputSize, config.InputSize);
                TensorPrimitives.Subtract(x, inputMean, x);
                TensorPrimitives.Divide(x, inputStd, x);
            }
        TrainingTargets<float> targets = config.Task == GruTask.Forecast
            ? TrainingTargets<float>.Forecast(new float[expected.Length])
            : TrainingTargets<float>.Classify(new int[lengths.Length]);
        var pass = new GruTrainingPass<float>(config);
        pass.Forward(GruParameters<float>.FromModel(model), inputs, lengths, targets, default, null);
        float[] actual = pass.Outputs.ToArray();
        if (config.TargetMean is { } targetMean && config.TargetStd is { } targetStd)
            for (int step = 0; step < actual.Length / config.OutputSize; step++)
            {
                Span<float> y = actual.AsSpan(step * config.OutputSize, config.OutputSize);
                TensorPrimitives.FusedMultiplyAdd(y, targetStd, targetMean, y);
            }

        // Both run the products as Gemm's FMA chains, but the pass keeps its own head, softmax and bookkeeping for the
        // backward pass: the last bits may differ (a few 1e-6 of the outputs' size at most), never the result.
        Assert.Equal(expected.Length, actual.Length);
        double scale = expected.Max(Math.Abs);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(Math.Abs(actual[i] - expected[i]) <= 5e-6 * Math.Max(Math.Abs(expected[i]), 0.1 * scale),
                $"{name} output {i}: Predict gave {expected[i]:R}, the training pass {actual[i]:R}");
    }

    [Theory]
    [InlineData(ForecastLoss.MeanSquaredError)]
    [InlineData(ForecastLoss.Huber)]
    [InlineData(ForecastLoss.MeanAbsoluteError)]
    public void Forward_ReturnsSumOverSequencesOfMeanElementwiseLoss(ForecastLoss loss)
    {
        GruConfig config = TrainingTestData.Config(GruTask.Forecast, horizon: 3, outputSize: 2);
        var parameters = TrainingTestData.Parameters<double>(config, 5);
        int[] lengths = [3, 5, 1, 4];
        double[] inputs = TrainingTestData.Inputs(config, lengths, 6);
        // Spread wide enough for Huber's δ = 0.3 to split the errors into both branches.
        double[] targets = [.. TrainingTestData.RandomTargets(config, lengths.Length, 7).Select(t => 2 * t)];
        const double delta = 0.3;

        var pass = new GruTrainingPass<double>(config);
        double actual = pass.Forward(parameters, inputs, lengths, TrainingTargets<double>.Forecast(targets, loss, delta), default, null);

        int perSequence = config.HeadOutputs;
        double expected = 0;
        int inside = 0;
        for (int s = 0; s < lengths.Length; s++)
        {
            double sum = 0;
            for (int i = s * perSequence; i < (s + 1) * perSequence; i++)
            {
                double error = Math.Abs(pass.Outputs[i] - targets[i]);
                if (error < delta) inside++;
                sum += loss switch
                {
                    ForecastLoss.MeanSquaredError => error * error,
                    ForecastLoss.MeanAbsoluteError => error,
                    _ => error < delta ? 0.5 * error * error : delta * (error - 0.5 * delta),
                };
            }
            expected += sum / perSequence;
        }
        Assert.Equal(expected, actual, 1e-12);
        Assert.InRange(inside, 1, targets.Length - 1);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Forward_ReturnsSumOfWeightedNegativeLogProbabilities_ForClassifier(bool weighted)
    {
        GruConfig config = TrainingTestData.Config(GruTask.Classify, bidirectional: true, classes: 4);
        var parameters = TrainingTestData.Parameters<double>(config, 11);
        int[] lengths = [2, 6, 3];
        int[] labels = [3, 0, 3];
        double[] weights = [0.2, 1, 1, 3.5];
        double[] inputs = TrainingTestData.Inputs(config, lengths, 12);

        var pass = new GruTrainingPass<double>(config);
        double actual = pass.Forward(parameters, inputs, lengths,
            TrainingTargets<double>.Classify(labels, weighted ? weights : null), default, null);

        double expected = 0;
        for (int s = 0; s < lengths.Length; s++)
        {
            ReadOnlySpan<double> probabilities = pass.Outputs.Slice(s * 4, 4);
            Assert.Equal(1, TensorPrimitives.Sum(probabilities), 1e-12);
            expected -= (weighted ? weights[labels[s]] : 1) * Math.Log(probabilities[labels[s]]);
        }
        Assert.Equal(expected, actual, 1e-12);
    }

    [Theory]
    [InlineData(true, GruTask.Forecast)]
    [InlineData(false, GruTask.Classify)]
    public void ForwardAndBackward_OfRaggedBatch_EqualTheSumOverItsSequencesAlone(bool linearBeforeReset, GruTask task)
    {
        GruConfig config = TrainingTestData.Config(task, linearBeforeReset, layers: 2, bidirectional: true);
        var parameters = TrainingTestData.Parameters<double>(config, 21);
        int[] lengths = [3, 1, 5, 5, 2];
        double[] inputs = TrainingTestData.Inputs(config, lengths, 22);
        double[] targetValues = TrainingTestData.RandomTargets(config, lengths.Length, 23);
        int[] labels = TrainingTestData.Labels(config, lengths.Length, 24);
        TrainingTargets<double> Targets(int first, int count) => task == GruTask.Forecast
            ? TrainingTargets<double>.Forecast(targetValues.AsMemory(first * config.HeadOutputs, count * config.HeadOutputs))
            : TrainingTargets<double>.Classify(labels.AsMemory(first, count));

        var pass = new GruTrainingPass<double>(config);
        double batchLoss = pass.Forward(parameters, inputs, lengths, Targets(0, lengths.Length), default, null);
        double[] batchOutputs = pass.Outputs.ToArray();
        var batchGradient = new double[parameters.Values.Length];
        pass.Backward(parameters, batchGradient);

        double aloneLoss = 0;
        var aloneGradient = new double[parameters.Values.Length];
        for (int s = 0, start = 0; s < lengths.Length; start += lengths[s], s++)
        {
            aloneLoss += pass.Forward(parameters, inputs.AsSpan(start * config.InputSize, lengths[s] * config.InputSize), [lengths[s]],
                Targets(s, 1), default, null);
            for (int i = 0; i < config.HeadOutputs; i++)
                Assert.Equal(batchOutputs[s * config.HeadOutputs + i], pass.Outputs[i], 1e-14);
            pass.Backward(parameters, aloneGradient);
        }

        Assert.Equal(aloneLoss, batchLoss, 1e-12);
        for (int i = 0; i < batchGradient.Length; i++)
            Assert.True(Math.Abs(batchGradient[i] - aloneGradient[i]) <= 1e-12 * Math.Max(1, Math.Abs(aloneGradient[i])),
                $"gradient {i}: batch {batchGradient[i]:R}, sequences alone {aloneGradient[i]:R}");
    }

    [Fact]
    public void Dropout_ZeroesHeadInputsWithProbabilityP_AndScalesTheRestByOneOverOneMinusP()
    {
        // A head that copies the first hidden unit shows, per sequence, what dropout did to it.
        GruConfig config = TrainingTestData.Config(GruTask.Forecast, horizon: 1, outputSize: 1);
        var parameters = TrainingTestData.Parameters<double>(config, 31);
        parameters.Tensor("head.weight").Clear();
        parameters.Tensor("head.weight")[0] = 1;
        parameters.Tensor("head.bias").Clear();
        int[] lengths = [.. Enumerable.Repeat(3, 1000)];
        double[] inputs = TrainingTestData.Inputs(config, lengths, 32);
        var targets = TrainingTargets<double>.Forecast(new double[lengths.Length]);
        const double p = 0.25;

        var pass = new GruTrainingPass<double>(config);
        pass.Forward(parameters, inputs, lengths, targets, default, null);
        double[] kept = pass.Outputs.ToArray();
        pass.Forward(parameters, inputs, lengths, targets, new TrainingOptions(p), new Random(33));

        int dropped = 0;
        for (int s = 0; s < lengths.Length; s++)
        {
            if (pass.Outputs[s] == 0) dropped++;
            else Assert.Equal(kept[s] / (1 - p), pass.Outputs[s], 1e-12);
        }
        Assert.InRange(dropped, 200, 300); // 250 expected; the standard deviation is under 14
    }

    [Fact]
    public void Dropout_WithTheSameSeed_GivesTheSameLossAndGradient_AndAnotherSeedDoesNot()
    {
        GruConfig config = TrainingTestData.Config(GruTask.Classify, layers: 2, bidirectional: true);
        var parameters = TrainingTestData.Parameters<double>(config, 41);
        int[] lengths = [4, 3, 6];
        double[] inputs = TrainingTestData.Inputs(config, lengths, 42);
        var targets = TrainingTargets<double>.Classify(TrainingTestData.Labels(config, lengths.Length, 43));
        var options = new TrainingOptions(0.4);

        var pass = new GruTrainingPass<double>(config);
        (double Loss, double[] Gradient) Run(Random random)
        {
            double loss = pass.Forward(parameters, inputs, lengths, targets, options, random);
            var gradient = new double[parameters.Values.Length];
            pass.Backward(parameters, gradient);
            return (loss, gradient);
        }

        var first = Run(new Random(7));
        var again = Run(new Random(7));
        var other = Run(new Random(8));
        double undropped = pass.Forward(parameters, inputs, lengths, targets, default, null);

        Assert.Equal(first.Loss, again.Loss);
        Assert.Equal(first.Gradient, again.Gradient);
        Assert.NotEqual(first.Loss, other.Loss);
        Assert.NotEqual(first.Loss, undropped);
    }

    [Fact]
    public void Backward_AddsToTheGradientItIsGiven()
    {
        GruConfig config = TrainingTestData.Config(GruTask.Forecast, layers: 2);
        var parameters = TrainingTestData.Parameters<double>(config, 51);
        int[] lengths = [3, 2];
        double[] inputs = TrainingTestData.Inputs(config, lengths, 52);
        var targets = TrainingTargets<double>.Forecast(TrainingTestData.RandomTargets(config, lengths.Length, 53));
        var pass = new GruTrainingPass<double>(config);
        pass.Forward(parameters, inputs, lengths, targets, default, null);

        var fresh = new double[parameters.Values.Length];
        pass.Backward(parameters, fresh);
        double[] accumulated = [.. Enumerable.Repeat(1.0, fresh.Length)];
        pass.Backward(parameters, accumulated);

        for (int i = 0; i < fresh.Length; i++) Assert.Equal(1 + fresh[i], accumulated[i], 1e-15);
    }

    [Fact]
    public void Backward_InFloat_AgreesWithDouble()
    {
        GruConfig config = TrainingTestData.Config(GruTask.Forecast, linearBeforeReset: false, layers: 2, bidirectional: true, hiddenSize: 8);
        var parameters = TrainingTestData.Parameters<double>(config, 61);
        var floatParameters = new GruParameters<float>(config);
        for (int i = 0; i < parameters.Values.Length; i++) floatParameters.Values[i] = (float)parameters.Values[i];
        int[] lengths = [7, 3, 5];
        double[] inputs = TrainingTestData.Inputs(config, lengths, 62);
        double[] targets = TrainingTestData.RandomTargets(config, lengths.Length, 63);

        var pass = new GruTrainingPass<double>(config);
        double loss = pass.Forward(parameters, inputs, lengths, TrainingTargets<double>.Forecast(targets), default, null);
        var gradient = new double[parameters.Values.Length];
        pass.Backward(parameters, gradient);
        var floatPass = new GruTrainingPass<float>(config);
        float floatLoss = floatPass.Forward(floatParameters, TrainingTestData.ToFloat(inputs), lengths,
            TrainingTargets<float>.Forecast(TrainingTestData.ToFloat(targets)), default, null);
        var floatGradient = new float[gradient.Length];
        floatPass.Backward(floatParameters, floatGradient);

        Assert.Equal(loss, floatLoss, 1e-5);
        double scale = gradient.Max(Math.Abs);
        for (int i = 0; i < gradient.Length; i++)
            Assert.True(Math.Abs(gradient[i] - floatGradient[i]) <= 1e-5 * scale, $"gradient {i}: double {gradient[i]:R}, float {floatGradient[i]:R}");
    }

    [Fact]
    public void Backward_BeforeAnyForward_Throws()
    {
        GruConfig config = TrainingTestData.Config(GruTask.Forecast);
        var parameters = new GruParameters<double>(config);
        var pass = new GruTrainingPass<double>(config);
        Assert.Throws<InvalidOperationException>(() => pass.Backward(parameters, new double[parameters.Values.Length]));
    }

    [Fact]
    public void Forward_RefusesInputsTargetsOptionsAndParametersThatDoNotFit()
    {
        GruConfig config = TrainingTestData.Config(GruTask.Classify);
        var parameters = new GruParameters<double>(config);
        var pass = new GruTrainingPass<double>(config);
        int[] lengths = [2, 3];
        double[] inputs = TrainingTestData.Inputs(config, lengths, 1);
        var labels = TrainingTargets<double>.Classify(new[] { 0, 2 });

        Assert.Throws<ArgumentException>(() => pass.Forward(parameters, inputs.AsSpan(1), lengths, labels, default, null));
        Assert.Throws<ArgumentException>(() => pass.Forward(parameters, inputs, [2, 0, 3], labels, default, null));
        Assert.Throws<ArgumentException>(() => pass.Forward(parameters, inputs, lengths, TrainingTargets<double>.Classify(new[] { 0, 3 }), default, null));
        Assert.Throws<ArgumentException>(() => pass.Forward(parameters, inputs, lengths, TrainingTargets<double>.Classify(new[] { 0 }), default, null));
        Assert.Throws<ArgumentException>(() => pass.Forward(parameters, inputs, lengths, TrainingTargets<double>.Classify(new[] { 0, 1 }, new[] { 1.0 }), default, null));
        Assert.Throws<ArgumentException>(() => pass.Forward(parameters, inputs, lengths, TrainingTargets<double>.Forecast(new double[2]), default, null));
        Assert.Throws<ArgumentOutOfRangeException>(() => pass.Forward(parameters, inputs, lengths, labels, new TrainingOptions(1), new Random(1)));
        Assert.Throws<ArgumentNullException>(() => pass.Forward(parameters, inputs, lengths, labels, new TrainingOptions(0.5), null));
        var otherParameters = new GruParameters<double>(TrainingTestData.Config(GruTask.Classify, linearBeforeReset: false));
        Assert.Throws<ArgumentException>(() => pass.Forward(otherParameters, inputs, lengths, labels, default, null));
    }
}
