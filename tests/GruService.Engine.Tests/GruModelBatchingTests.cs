using GruService.Engine.Training;

namespace GruService.Engine.Tests;

/// <summary>
/// What dynamic batching in the service relies on: a sequence's answer does not depend on the batch it rides in.
/// The shapes reach every kernel path: hidden sizes off the 16-wide panels, batches below and above the row tile,
/// products small enough for one core and large enough to be split over two (by rows, with the gate math split
/// too, and by panels for a single long sequence).
/// </summary>
public class GruModelBatchingTests
{
    public static TheoryData<bool, int, bool, int, int> Models => new()
    {
        // linearBeforeReset, layers, bidirectional, input, hidden
        { true, 1, false, 8, 64 },
        { true, 2, true, 3, 17 },
        { false, 1, false, 5, 100 },
        { false, 2, true, 1, 33 },
        { true, 1, false, 32, 256 },
        { false, 1, false, 7, 130 },
    };

    [Theory]
    [MemberData(nameof(Models))]
    public void Predict_AnswersAreBitIdentical_BatchedOrAlone_OnRandomRaggedBatches(bool linearBeforeReset, int layers, bool bidirectional, int input, int hidden)
    {
        var random = new Random(hidden * 31 + input);
        GruModel forecaster = RandomModel(GruTask.Forecast, linearBeforeReset, layers, bidirectional, input, hidden, random);
        GruModel classifier = RandomModel(GruTask.Classify, linearBeforeReset, layers, bidirectional, input, hidden, random);
        foreach (GruModel model in new[] { forecaster, classifier })
        for (int trial = 0; trial < 4; trial++)
        {
            int batch = random.Next(1, 48);
            int[] lengths = [.. Enumerable.Range(0, batch).Select(_ => random.Next(1, 40))];
            float[] inputs = new float[lengths.Sum() * input];
            for (int i = 0; i < inputs.Length; i++) inputs[i] = random.NextSingle() * 4 - 2;
            int per = model.OutputsPerSequence;
            float[] batched = new float[batch * per];
            model.Predict(inputs, lengths, batched);

            for (int s = 0, offset = 0; s < batch; offset += lengths[s], s++)
            {
                float[] alone = new float[per];
                model.Predict(inputs.AsSpan(offset * input, lengths[s] * input), [lengths[s]], alone);
                for (int o = 0; o < per; o++)
                    Assert.True(BitConverter.SingleToInt32Bits(alone[o]) == BitConverter.SingleToInt32Bits(batched[s * per + o]),
                        $"{model.Config.Task} trial {trial}, sequence {s} of {batch} (length {lengths[s]}), output {o}: alone {alone[o]:R}, batched {batched[s * per + o]:R}");
            }
        }
    }

    private static GruModel RandomModel(GruTask task, bool linearBeforeReset, int layers, bool bidirectional, int input, int hidden, Random random)
    {
        var config = new GruConfig
        {
            Task = task, InputSize = input, HiddenSize = hidden, NumLayers = layers, Bidirectional = bidirectional,
            LinearBeforeReset = linearBeforeReset,
            Horizon = task == GruTask.Forecast ? 3 : 0, OutputSize = task == GruTask.Forecast ? 2 : 0,
            Classes = task == GruTask.Classify ? ["a", "b", "c", "d", "e"] : [],
        };
        var parameters = new GruParameters<float>(config);
        parameters.InitializeLikePyTorch(random);
        return parameters.ToModel();
    }
}
