using System.Buffers;
using System.Numerics.Tensors;
using GruService.Engine.Kernels;

namespace GruService.Engine;

/// <summary>
/// A loaded GRU with its head: immutable, safe to share between threads, and answering a batch of
/// sequences of different lengths as if each were alone.
/// </summary>
public sealed class GruModel
{
    private readonly GruDirectionWeights[] _directions;

    /// <param name="config">Architecture, head and normalisation.</param>
    /// <param name="directions">Layer-major: layer 0 forward, layer 0 reverse (if bidirectional), layer 1 forward, ...</param>
    /// <param name="headWeight">[HeadOutputs, HeadInputs] row-major.</param>
    /// <param name="headBias">[HeadOutputs].</param>
    public GruModel(GruConfig config, IReadOnlyList<GruDirectionWeights> directions, float[] headWeight, float[] headBias)
    {
        if (directions.Count != config.NumLayers * config.Directions)
            throw new ArgumentException($"Expected {config.NumLayers * config.Directions} layer directions; got {directions.Count}.", nameof(directions));
        for (int i = 0; i < directions.Count; i++)
        {
            int layer = i / config.Directions;
            if (directions[i].InputSize != config.LayerInputSize(layer) || directions[i].HiddenSize != config.HiddenSize)
                throw new ArgumentException($"Layer {layer} direction {i % config.Directions} has the wrong shape.", nameof(directions));
        }
        if (headWeight.Length != config.HeadOutputs * config.HeadInputs)
            throw new ArgumentException($"head weight has {headWeight.Length} values; expected {config.HeadOutputs * config.HeadInputs}.", nameof(headWeight));
        if (headBias.Length != config.HeadOutputs)
            throw new ArgumentException($"head bias has {headBias.Length} values; expected {config.HeadOutputs}.", nameof(headBias));

        Config = config;
        _directions = [.. directions];
        HeadWeight = headWeight;
        HeadBias = headBias;
        ParameterCount = _directions.Sum(d => d.ParameterCount) + headWeight.Length + headBias.Length;
    }

    public GruConfig Config { get; }
    public float[] HeadWeight { get; }
    public float[] HeadBias { get; }
    public long ParameterCount { get; }

    /// <summary>Layer-major weights, forward before reverse.</summary>
    public IReadOnlyList<GruDirectionWeights> Directions => _directions;

    public GruDirectionWeights Weights(int layer, int direction) => _directions[layer * Config.Directions + direction];

    /// <summary>Values one sequence's answer occupies in the output of <see cref="Predict"/>.</summary>
    public int OutputsPerSequence => Config.HeadOutputs;

    /// <summary>Bytes of scratch memory <see cref="Predict"/> rents for a batch of this size.</summary>
    public long WorkingBytes(long totalSteps, long sequences)
    {
        long hidden = Config.HiddenSize, width = Config.HeadInputs, widest = Math.Max(Config.InputSize, width);
        long floats = totalSteps * (2 * widest + width + 3 * hidden) + sequences * (hidden + width + 4 * hidden + Config.HeadOutputs);
        return floats * sizeof(float);
    }

    /// <summary>
    /// Runs a batch. <paramref name="inputs"/> holds the sequences back to back, each step input_size values,
    /// raw (normalisation is applied here). <paramref name="outputs"/> receives, per sequence in input order,
    /// <see cref="OutputsPerSequence"/> values: de-normalised forecasts [horizon][output_size], or class probabilities.
    /// </summary>
    public void Predict(ReadOnlySpan<float> inputs, ReadOnlySpan<int> lengths, Span<float> outputs)
    {
        var plan = BatchPlan.Create(lengths);
        try
        {
            if (inputs.Length != (long)plan.TotalSteps * Config.InputSize)
                throw new ArgumentException($"inputs has {inputs.Length} values; lengths give {plan.TotalSteps} steps of {Config.InputSize}.", nameof(inputs));
            if (outputs.Length < lengths.Length * OutputsPerSequence)
                throw new ArgumentException("outputs is too short for the batch.", nameof(outputs));
            Forward(inputs, plan, outputs);
        }
        finally
        {
            plan.Dispose();
        }
    }

    private void Forward(ReadOnlySpan<float> inputs, BatchPlan plan, Span<float> outputs)
    {
        GruConfig cfg = Config;
        int hidden = cfg.HiddenSize, dirs = cfg.Directions, width = hidden * dirs;
        int batch = plan.BatchSize, total = plan.TotalSteps;
        var pool = ArrayPool<float>.Shared;

        float[] layerIn = pool.Rent(total * Math.Max(cfg.InputSize, width));
        float[] layerOut = pool.Rent(total * width);
        float[] reversed = pool.Rent(total * Math.Max(cfg.InputSize, width));
        float[] inputGates = pool.Rent(total * 3 * hidden);
        float[] state = pool.Rent(batch * hidden);
        float[] finals = pool.Rent(batch * width);
        float[] scratch = pool.Rent(batch * 4 * hidden);
        try
        {
            PackInputs(inputs, plan, layerIn);
            int inWidth = cfg.InputSize;
            for (int layer = 0; layer < cfg.NumLayers; layer++)
            {
                for (int d = 0; d < dirs; d++)
                {
                    GruDirectionWeights w = Weights(layer, d);
                    ReadOnlySpan<float> x = layerIn.AsSpan(0, total * inWidth);
                    if (d == 1)
                    {
                        plan.GatherReversed(x, inWidth, reversed);
                        x = reversed.AsSpan(0, total * inWidth);
                    }
                    // The input projection of every step of every sequence is one matrix product.
                    Span<float> gates = inputGates.AsSpan(0, total * 3 * hidden);
                    MatMul.MultiplyTransposedAddBias(x, total, inWidth, w.WeightIh, 3 * hidden, w.BiasIh, gates);

                    Span<float> h = state.AsSpan(0, batch * hidden);
                    h.Clear();
                    Recur(w, plan, gates, h, scratch, layerOut.AsSpan(0, total * width), d);
                    if (layer == cfg.NumLayers - 1)
                        for (int j = 0; j < batch; j++)
                            h.Slice(j * hidden, hidden).CopyTo(finals.AsSpan(j * width + d * hidden, hidden));
                }
                (layerIn, layerOut) = (layerOut, layerIn);
                inWidth = width;
            }
            Head(finals.AsSpan(0, batch * width), plan, outputs);
        }
        finally
        {
            pool.Return(layerIn);
            pool.Return(layerOut);
            pool.Return(reversed);
            pool.Return(inputGates);
            pool.Return(state);
            pool.Return(finals);
            pool.Return(scratch);
        }
    }

    /// <summary>Copies the sequences into packed order (time-major, longest sequence first), normalising on the way.</summary>
    private void PackInputs(ReadOnlySpan<float> inputs, BatchPlan plan, Span<float> packed)
    {
        int size = Config.InputSize;
        float[]? mean = Config.InputMean, std = Config.InputStd;
        for (int j = 0; j < plan.BatchSize; j++)
        {
            int source = plan.SourceOffset(j);
            for (int t = 0; t < plan.Length(j); t++)
            {
                ReadOnlySpan<float> step = inputs.Slice((source + t) * size, size);
                Span<float> row = packed.Slice(plan.Row(j, t) * size, size);
                if (mean is null || std is null)
                {
                    step.CopyTo(row);
                }
                else
                {
                    TensorPrimitives.Subtract(step, mean, row);
                    TensorPrimitives.Divide(row, std, row);
                }
            }
        }
    }

    /// <summary>
    /// The recurrence of one direction. At step t the sequences still running are a prefix of the packed order,
    /// so their input gates are one contiguous block. Direction 1 walks each sequence from its own last step.
    /// </summary>
    private void Recur(GruDirectionWeights w, BatchPlan plan, ReadOnlySpan<float> inputGates, Span<float> h,
        Span<float> scratch, Span<float> layerOut, int direction)
    {
        int hidden = Config.HiddenSize, width = hidden * Config.Directions, gates = 3 * hidden;
        ReadOnlySpan<float> whh = w.WeightHh, bhh = w.BiasHh;
        for (int t = 0; t < plan.MaxLength; t++)
        {
            int active = plan.Active(t), first = plan.StepOffset(t);
            Span<float> hActive = h.Slice(0, active * hidden);
            ReadOnlySpan<float> gin = inputGates.Slice(first * gates, active * gates);
            if (Config.LinearBeforeReset)
            {
                Span<float> gh = scratch.Slice(0, active * gates);
                MatMul.MultiplyTransposedAddBias(hActive, active, hidden, whh, gates, bhh, gh);
                for (int j = 0; j < active; j++)
                    GruCell.StepLinearBeforeReset(gin.Slice(j * gates, gates), gh.Slice(j * gates, gates), hActive.Slice(j * hidden, hidden));
            }
            else
            {
                Span<float> rz = scratch.Slice(0, active * 2 * hidden);
                Span<float> resetHidden = scratch.Slice(active * 2 * hidden, active * hidden);
                Span<float> hn = scratch.Slice(active * 3 * hidden, active * hidden);
                MatMul.MultiplyTransposedAddBias(hActive, active, hidden, whh, 2 * hidden, bhh, rz);
                for (int j = 0; j < active; j++)
                    GruCell.ResetGate(gin.Slice(j * gates, gates), rz.Slice(j * 2 * hidden, 2 * hidden),
                        hActive.Slice(j * hidden, hidden), resetHidden.Slice(j * hidden, hidden));
                MatMul.MultiplyTransposedAddBias(resetHidden, active, hidden, whh.Slice(2 * hidden * hidden), hidden, bhh.Slice(2 * hidden), hn);
                for (int j = 0; j < active; j++)
                    GruCell.UpdateAfterReset(gin.Slice(j * gates, gates), rz.Slice(j * 2 * hidden + hidden, hidden),
                        hn.Slice(j * hidden, hidden), hActive.Slice(j * hidden, hidden), resetHidden.Slice(j * hidden, hidden));
            }
            for (int j = 0; j < active; j++)
            {
                int time = direction == 0 ? t : plan.Length(j) - 1 - t;
                hActive.Slice(j * hidden, hidden).CopyTo(layerOut.Slice(plan.Row(j, time) * width + direction * hidden, hidden));
            }
        }
    }

    private void Head(ReadOnlySpan<float> finals, BatchPlan plan, Span<float> outputs)
    {
        GruConfig cfg = Config;
        int outs = cfg.HeadOutputs, batch = plan.BatchSize;
        float[] rented = ArrayPool<float>.Shared.Rent(batch * outs);
        try
        {
            Span<float> sorted = rented.AsSpan(0, batch * outs);
            MatMul.MultiplyTransposedAddBias(finals, batch, cfg.HeadInputs, HeadWeight, outs, HeadBias, sorted);
            for (int j = 0; j < batch; j++)
            {
                Span<float> answer = outputs.Slice(plan.Original(j) * outs, outs);
                sorted.Slice(j * outs, outs).CopyTo(answer);
                if (cfg.Task == GruTask.Classify)
                {
                    TensorPrimitives.SoftMax(answer, answer);
                }
                else if (cfg.TargetMean is { } mean && cfg.TargetStd is { } std)
                {
                    for (int step = 0; step < cfg.Horizon; step++)
                    {
                        Span<float> y = answer.Slice(step * cfg.OutputSize, cfg.OutputSize);
                        TensorPrimitives.FusedMultiplyAdd(y, std, mean, y);
                    }
                }
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(rented);
        }
    }
}
