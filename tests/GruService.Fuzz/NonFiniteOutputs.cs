using GruService.Api.Inference;
using GruService.Engine;

namespace GruService.Fuzz;

/// <summary>Tells whether a model's answer to a request holds NaN or an infinity, computed in-process as the service computes it.</summary>
public static class NonFiniteOutputs
{
    /// <returns>An explanation when the outputs are not all finite; null when they are or the body does not read.</returns>
    public static string? Explain(GruModel model, byte[] body)
    {
        using var batch = new InputBatch();
        if (InferenceRequestReader.TryRead(body, "fuzz", model.Config.InputSize, new InferenceOptions(), batch) is not null) return null;
        if (model.Config.SegmentLength > 1 && batch.Lengths.ToArray().Any(l => l % model.Config.SegmentLength != 0)) return null;
        var outputs = new float[batch.SequenceCount * model.OutputsPerSequence];
        model.Predict(batch.Values, batch.Lengths, outputs);
        int bad = Array.FindIndex(outputs, v => !float.IsFinite(v));
        return bad < 0 ? null : $"(cause, checked in-process: the model's output {bad} for this request is {outputs[bad]}, which JSON cannot carry)";
    }
}
