using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using GruService.Engine;

namespace GruService.Api.Tests.Inference;

/// <summary>Random ragged requests, the engine's answer to each sequence run alone, and bitwise comparison.</summary>
internal static class BatchingTestData
{
    /// <summary>
    /// Sequences of random lengths. Values are multiples of 1/64, exact in float and in decimal, so the JSON the
    /// service reads holds exactly the floats the expected answers are computed from.
    /// </summary>
    public static float[][][] RandomSequences(Random random, int count, int inputSize, int maxLength) =>
        [.. Enumerable.Range(0, count).Select(_ =>
            Enumerable.Range(0, random.Next(1, maxLength + 1))
                .Select(_ => Enumerable.Range(0, inputSize).Select(_ => random.Next(-256, 257) / 64f).ToArray())
                .ToArray())];

    /// <summary>The engine's outputs for one sequence on its own: a batch of one, nothing else in it.</summary>
    public static float[] Alone(GruModel model, float[][] sequence)
    {
        var outputs = new float[model.OutputsPerSequence];
        model.Predict([.. sequence.SelectMany(step => step)], [sequence.Length], outputs);
        return outputs;
    }

    /// <summary>Every sequence's outputs from a forecast or classify response body, flattened, in input order.</summary>
    public static float[][] Answers(JsonObject body) =>
        body["forecasts"] is JsonArray forecasts
            ? [.. forecasts.Select(f => f!.AsArray().SelectMany(step => step!.AsArray().Select(v => (float)v!)).ToArray())]
            : [.. body["predictions"]!.AsArray().Select(p => p!["probabilities"]!.AsArray().Select(v => (float)v!).ToArray())];

    /// <summary>Null when equal bit for bit; otherwise where they first differ.</summary>
    public static string? BitDifference(float[] expected, float[] actual)
    {
        if (expected.Length != actual.Length) return $"{actual.Length} values instead of {expected.Length}";
        for (int i = 0; i < expected.Length; i++)
        {
            if (BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]))
                return $"value {i} is {actual[i]:R} instead of {expected[i]:R}";
        }
        return null;
    }

    /// <summary>Each response is 200 and answers every sequence of its request bit for bit as the engine does alone.</summary>
    public static async Task AssertAnsweredAsAloneAsync(GruModel model, float[][][][] requests, HttpResponseMessage[] responses)
    {
        for (int r = 0; r < requests.Length; r++)
        {
            Assert.Equal(System.Net.HttpStatusCode.OK, responses[r].StatusCode);
            float[][] answers = Answers(await responses[r].JsonAsync());
            Assert.Equal(requests[r].Length, answers.Length);
            for (int s = 0; s < answers.Length; s++)
            {
                string? difference = BitDifference(Alone(model, requests[r][s]), answers[s]);
                Assert.True(difference is null, $"request {r} sequence {s} ({requests[r][s].Length} steps): {difference}");
            }
        }
    }

    public static string RequestJson(float[][][] sequences) => JsonSerializer.Serialize(new { inputs = sequences });

    /// <summary>One sample's value from Prometheus text, e.g. Sample(text, "gruservice_inference_batch_size_count{model=\"m\"}"); null when absent.</summary>
    public static double? Sample(string metrics, string series)
    {
        foreach (string line in metrics.Split('\n'))
        {
            if (line.StartsWith(series + " ", StringComparison.Ordinal))
                return double.Parse(line[(series.Length + 1)..], CultureInfo.InvariantCulture);
        }
        return null;
    }
}
