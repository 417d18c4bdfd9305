using System.Numerics.Tensors;
using GruService.Engine.Kernels;
using GruService.Engine.Training;
using GruService.Engine.Training.Data;

namespace GruService.Engine;

/// <summary>
/// A loaded GRU with its head: immutable, safe to share between threads, and answering a batch of
/// sequences of different lengths as if each were alone.
/// </summary>
/// <remarks>
/// A forecast model with extensions (<see cref="GruConfig.HasInputTransform"/>) first turns each raw sequence into what
/// its GRU reads: standardised, then offset per window (<see cref="WindowNormalizer"/>, the code training uses), then
/// split into one sequence per column if channel-independent; a segment of time steps is one GRU step, which in the
/// time-major layout is a matter of reading rows segment_length times as wide. The forecast is assembled back into
/// [horizon][output_size], gets the offsets back, and is de-normalised.
/// </remarks>
public sealed class GruModel
{
    private readonly GruDirectionWeights[] _directions;
    private readonly PackedDirection[] _packed;
    private readonly PackedWeights _packedHead;
    private readonly WindowNormalizer? _windowNormalizer;

    /// <summary>
    /// One direction's weights in the kernels' layout, packed once at load. The reset-before-matmul form multiplies
    /// the r and z rows of W_hh by h but the n rows by r ⊙ h, so W_hh is packed as those two blocks.
    /// </summary>
    private sealed record PackedDirection(PackedWeights Input, PackedWeights Hidden, PackedWeights? HiddenN);

    /// <param name="config">Architecture, head and normalisation.</param>
    /// <param name="directions">Layer-major: layer 0 forward, layer 0 reverse (if bidirectional), layer 1 forward, ...</param>
    /// <param name="headWeight">[HeadOutputs, HeadInputs] row-major.</param>
    /// <param name="headBias">[HeadOutputs].</param>
    public GruModel(GruConfig config, IReadOnlyList<GruDirectionWeights> directions, float[] headWeight, float[] headBias)
    {
        if (config.ExtensionProblem() is { } problem)
            throw new ArgumentException(problem, nameof(config));
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
        _packed = [.. _directions.Select(d => Pack(d, config.LinearBeforeReset))];
        _packedHead = new PackedWeights(headWeight, config.HeadOutputs, config.HeadInputs, headBias);
        if (config.WindowNormalization != WindowNormalization.None)
            _windowNormalizer = new WindowNormalizer(config.WindowNormalization, config.InputSize, config.TargetInputs!);
    }

    private static PackedDirection Pack(GruDirectionWeights w, bool linearBeforeReset)
    {
        int hidden = w.HiddenSize, gates = 3 * hidden;
        var input = new PackedWeights(w.WeightIh, gates, w.InputSize, w.BiasIh);
        if (linearBeforeReset)
            return new PackedDirection(input, new PackedWeights(w.WeightHh, gates, hidden, w.BiasHh), null);
        return new PackedDirection(input,
            new PackedWeights(w.WeightHh.AsSpan(0, 2 * hidden * hidden), 2 * hidden, hidden, w.BiasHh.AsSpan(0, 2 * hidden)),
            new PackedWeights(w.WeightHh.AsSpan(2 * hidden * hidden), hidden, hidden, w.BiasHh.AsSpan(2 * hidden)));
    }

    public GruConfig Config { get; }
    public float[] HeadWeight { get; }
    public float[] HeadBias { get; }
    public long ParameterCount { get; }

    /// <summary>Layer-major weights, forward before reverse.</summary>
    public IReadOnlyList<GruDirectionWeights> Directions => _directions;

    public GruDirectionWeights Weights(int layer, int direction) => _directions[layer * Config.Directions + direction];

    /// <summary>Values one sequence's answer occupies in the output of <see cref="Predict"/>.</summary>
    public int OutputsPerSequence => Config.OutputsPerSequence;

    /// <summary>Bytes of scratch memory <see cref="Predict"/> rents for a batch of this size.</summary>
    public long WorkingBytes(long totalSteps, long sequences)
    {
        GruConfig cfg = Config;
        long hidden = cfg.HiddenSize, width = cfg.HeadInputs, widest = Math.Max(cfg.LayerInputSize(0), width);
        long gruSteps = totalSteps / cfg.SegmentLength * cfg.Channels, gruSequences = sequences * cfg.Channels;
        long floats = gruSteps * (2 * widest + width + 3 * hidden) + gruSequences * (hidden + width + 4 * hidden + cfg.HeadOutputs);
        if (cfg.HasInputTransform)
            floats += totalSteps * cfg.InputSize * (cfg.ChannelIndependent ? 2 : 1) + sequences * cfg.OutputSize + gruSequences * cfg.HeadOutputs;
        return floats * sizeof(float);
    }

    /// <summary>
    /// Runs a batch. <paramref name="inputs"/> holds the sequences back to back, each step input_size values,
    /// raw (normalisation is applied here). <paramref name="outputs"/> receives, per sequence in input order,
    /// <see cref="OutputsPerSequence"/> values: de-normalised forecasts [horizon][output_size], or class probabilities.
    /// A model with a segment_length takes only sequences whose length is a multiple of it.
    /// </summary>
    public void Predict(ReadOnlySpan<float> inputs, ReadOnlySpan<int> lengths, Span<float> outputs)
    {
        if (Config.HasInputTransform)
        {
            PredictTransformed(inputs, lengths, outputs);
            return;
        }
        PackedBatch plan = RentBatch(lengths);
        try
        {
            if (inputs.Length != (long)plan.TotalSteps * Config.InputSize)
                throw new ArgumentException($"inputs has {inputs.Length} values; lengths give {plan.TotalSteps} steps of {Config.InputSize}.", nameof(inputs));
            if (outputs.Length < lengths.Length * OutputsPerSequence)
                throw new ArgumentException("outputs is too short for the batch.", nameof(outputs));
            Span<float> answers = outputs.Slice(0, lengths.Length * OutputsPerSequence);
            Forward(inputs, standardize: true, plan, answers);
            for (int j = 0; j < lengths.Length; j++)
                Finish(answers.Slice(j * OutputsPerSequence, OutputsPerSequence));
        }
        finally
        {
            ReturnBatch(plan);
        }
    }

    /// <summary>
    /// Answers one shortest valid sequence of zeros and discards the answer: compiles this model's code path and
    /// fills the calling thread's scratch, so that the first real request does not pay for either.
    /// </summary>
    public void WarmUp()
    {
        int steps = Config.SegmentLength;
        float[] inputs = new float[steps * Config.InputSize], outputs = new float[OutputsPerSequence];
        Predict(inputs, [steps], outputs);
    }

    // One packed layout per thread, grown to the largest batch that thread has seen, so a warm call allocates nothing.
    [ThreadStatic]
    private static PackedBatch? t_packedBatch;

    private static PackedBatch RentBatch(ReadOnlySpan<int> lengths)
    {
        PackedBatch batch = t_packedBatch ?? new PackedBatch();
        t_packedBatch = null;
        batch.Reset(lengths);
        return batch;
    }

    private static void ReturnBatch(PackedBatch batch) => t_packedBatch = batch;

    /// <summary>
    /// The forecast extensions: prepares what the GRU reads (standardised, offset per window, one sequence per column
    /// if channel-independent), runs it, and assembles, restores and de-normalises the forecasts.
    /// </summary>
    private void PredictTransformed(ReadOnlySpan<float> inputs, ReadOnlySpan<int> lengths, Span<float> outputs)
    {
        GruConfig cfg = Config;
        int batch = lengths.Length, size = cfg.InputSize, channels = cfg.Channels, segment = cfg.SegmentLength;
        if (batch == 0) throw new ArgumentException("A batch needs at least one sequence.", nameof(lengths));
        long total = 0;
        for (int i = 0; i < batch; i++)
        {
            if (lengths[i] < 1) throw new ArgumentException($"Sequence {i} is empty.", nameof(lengths));
            if (lengths[i] % segment != 0)
                throw new ArgumentException($"Sequence {i} has {lengths[i]} steps; this model reads segments of {segment} steps, so a length must be a multiple of {segment}.", nameof(lengths));
            total += lengths[i];
        }
        if (total * size > int.MaxValue / 4) throw new ArgumentException("The batch has too many steps.", nameof(lengths));
        if (inputs.Length != total * size)
            throw new ArgumentException($"inputs has {inputs.Length} values; lengths give {total} steps of {size}.", nameof(inputs));
        if (outputs.Length < batch * OutputsPerSequence)
            throw new ArgumentException("outputs is too short for the batch.", nameof(outputs));

        var pool = Workspace.Floats;
        int gruSequences = batch * channels, outs = cfg.HeadOutputs;
        int[] gruLengths = Workspace.Ints.Rent(gruSequences);
        float[] prepared = pool.Rent((int)total * size);
        float[]? byChannel = cfg.ChannelIndependent ? pool.Rent((int)total * size) : null;
        float[] targetOffsets = pool.Rent(batch * cfg.OutputSize);
        float[] head = pool.Rent(gruSequences * outs);
        PackedBatch? plan = null;
        try
        {
            Prepare(inputs, lengths, prepared, byChannel, targetOffsets);
            for (int i = 0; i < batch; i++)
                gruLengths.AsSpan(i * channels, channels).Fill(lengths[i] / segment);
            plan = RentBatch(gruLengths.AsSpan(0, gruSequences));
            Forward((byChannel ?? prepared).AsSpan(0, (int)total * size), standardize: false, plan, head.AsSpan(0, gruSequences * outs));

            int perAnswer = OutputsPerSequence;
            for (int i = 0; i < batch; i++)
            {
                Span<float> answer = outputs.Slice(i * perAnswer, perAnswer);
                if (cfg.ChannelIndependent)
                {
                    // GRU sequence i·C + c forecast column c: [horizon] into the column of [horizon][output_size].
                    for (int c = 0; c < channels; c++)
                    {
                        ReadOnlySpan<float> column = head.AsSpan((i * channels + c) * outs, outs);
                        for (int h = 0; h < column.Length; h++) answer[h * cfg.OutputSize + c] = column[h];
                    }
                }
                else
                {
                    head.AsSpan(i * outs, outs).CopyTo(answer);
                }
                _windowNormalizer?.RestoreOffsets(answer, targetOffsets.AsSpan(i * cfg.OutputSize, cfg.OutputSize));
                Finish(answer);
            }
        }
        finally
        {
            if (plan is not null) ReturnBatch(plan);
            Workspace.Ints.Return(gruLengths);
            pool.Return(prepared);
            if (byChannel is not null) pool.Return(byChannel);
            pool.Return(targetOffsets);
            pool.Return(head);
        }
    }

    /// <summary>
    /// Each sequence standardised (as <see cref="PackInputs"/> does) into <paramref name="prepared"/> at its place, then
    /// offset per window, writing the offsets its forecast gets back. Channel-independent: also copied column by
    /// column into <paramref name="byChannel"/>, so that GRU sequence i·C + c (sequence i's column c) is contiguous.
    /// </summary>
    private void Prepare(ReadOnlySpan<float> inputs, ReadOnlySpan<int> lengths, Span<float> prepared, Span<float> byChannel, Span<float> targetOffsets)
    {
        GruConfig cfg = Config;
        int size = cfg.InputSize, outputSize = cfg.OutputSize;
        float[]? mean = cfg.InputMean, std = cfg.InputStd;
        for (int i = 0, source = 0; i < lengths.Length; source += lengths[i], i++)
        {
            int steps = lengths[i];
            Span<float> window = prepared.Slice(source * size, steps * size);
            for (int t = 0; t < steps; t++)
            {
                ReadOnlySpan<float> step = inputs.Slice((source + t) * size, size);
                Span<float> row = window.Slice(t * size, size);
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
            _windowNormalizer?.Normalize(window, targetOffsets.Slice(i * outputSize, outputSize));
            if (byChannel.IsEmpty) continue;
            Span<float> columns = byChannel.Slice(source * size, steps * size);
            for (int c = 0; c < size; c++)
            {
                Span<float> column = columns.Slice(c * steps, steps);
                for (int t = 0; t < steps; t++) column[t] = window[t * size + c];
            }
        }
    }

    /// <summary>A head output in place to the answer: class probabilities, or a forecast de-normalised.</summary>
    private void Finish(Span<float> answer)
    {
        GruConfig cfg = Config;
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

    /// <summary>
    /// The GRU layers and the head over a batch of what the GRU reads (rows of LayerInputSize(0) values), writing the
    /// raw head outputs of each sequence, in input order, to <paramref name="headOutputs"/>.
    /// </summary>
    private void Forward(ReadOnlySpan<float> inputs, bool standardize, PackedBatch plan, Span<float> headOutputs)
    {
        GruConfig cfg = Config;
        int hidden = cfg.HiddenSize, dirs = cfg.Directions, width = hidden * dirs, firstWidth = cfg.LayerInputSize(0);
        int batch = plan.BatchSize, total = plan.TotalSteps;
        var pool = Workspace.Floats;

        float[] layerIn = pool.Rent(total * Math.Max(firstWidth, width));
        float[] layerOut = pool.Rent(total * width);
        float[] reversed = pool.Rent(total * Math.Max(firstWidth, width));
        float[] inputGates = pool.Rent(total * 3 * hidden);
        float[] state = pool.Rent(batch * hidden);
        float[] finals = pool.Rent(batch * width);
        float[] scratch = pool.Rent(batch * 4 * hidden);
        GruStepEpilogue step = t_step ?? new GruStepEpilogue();
        t_step = null;
        try
        {
            PackInputs(inputs, plan, layerIn, standardize);
            // Waking the second core for the input projection (or the head) alone costs more than it saves when the
            // recurrent steps, most of the pass, stay on one core: the helper then spins beside them for nothing,
            // and on cores that share a physical core it slows them (measured: one small request, 21 GFLOP/s with
            // the projection on one core, 8.6 with it split).
            long widestStep = (long)plan.Active(0) * hidden * (cfg.LinearBeforeReset ? 3 * hidden : 2 * hidden);
            var oneOffProducts = new GemmSettings(Threading: widestStep >= Gemm.SplitMinMultiplyAdds ? GemmThreading.Auto : GemmThreading.Single);
            int inWidth = firstWidth;
            for (int layer = 0; layer < cfg.NumLayers; layer++)
            {
                for (int d = 0; d < dirs; d++)
                {
                    PackedDirection w = _packed[layer * dirs + d];
                    ReadOnlySpan<float> x = layerIn.AsSpan(0, total * inWidth);
                    if (d == 1)
                    {
                        plan.MapRows(x, inWidth, reversed, inWidth, inWidth, reverse: true, add: false);
                        x = reversed.AsSpan(0, total * inWidth);
                    }
                    // The input projection of every step of every sequence is one matrix product.
                    Span<float> gates = inputGates.AsSpan(0, total * 3 * hidden);
                    Gemm.MultiplyTransposedAddBias(x, total, inWidth, w.Input, gates, 3 * hidden, oneOffProducts);

                    Span<float> h = state.AsSpan(0, batch * hidden);
                    h.Clear();
                    step.Begin(inputGates, scratch, state, layerOut, plan, hidden, width, d);
                    Recur(w, plan, h, scratch, step);
                    if (layer == cfg.NumLayers - 1)
                        for (int j = 0; j < batch; j++)
                            h.Slice(j * hidden, hidden).CopyTo(finals.AsSpan(j * width + d * hidden, hidden));
                }
                (layerIn, layerOut) = (layerOut, layerIn);
                inWidth = width;
            }
            Head(finals.AsSpan(0, batch * width), plan, headOutputs, oneOffProducts);
        }
        finally
        {
            step.End();
            t_step = step;
            pool.Return(layerIn);
            pool.Return(layerOut);
            pool.Return(reversed);
            pool.Return(inputGates);
            pool.Return(state);
            pool.Return(finals);
            pool.Return(scratch);
        }
    }

    /// <summary>
    /// Copies the sequences into packed order (time-major, longest sequence first), standardising on the way unless
    /// they already are.
    /// </summary>
    private void PackInputs(ReadOnlySpan<float> inputs, PackedBatch plan, Span<float> packed, bool standardize)
    {
        int size = Config.LayerInputSize(0);
        float[]? mean = standardize ? Config.InputMean : null, std = standardize ? Config.InputStd : null;
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

    // The gate math that runs after each recurrent product, one per thread (like the packed batch).
    [ThreadStatic]
    private static GruStepEpilogue? t_step;

    /// <summary>
    /// The recurrence of one direction: per time step, one recurrent product over the sequences still running (a
    /// prefix of the packed order) with the gate math fused after it (<see cref="GruStepEpilogue"/>), which also
    /// writes each new state to the layer's output. Direction 1 walks each sequence from its own last step.
    /// </summary>
    private void Recur(PackedDirection w, PackedBatch plan, Span<float> h, float[] scratch, GruStepEpilogue step)
    {
        int hidden = Config.HiddenSize;
        for (int t = 0; t < plan.MaxLength; t++)
        {
            int active = plan.Active(t);
            if (w.HiddenN is null)
            {
                step.Step(t, active, GruStepEpilogue.Phase.LinearBeforeReset);
                Gemm.MultiplyTransposedAddBias(h, active, hidden, w.Hidden, scratch, 3 * hidden, step);
            }
            else
            {
                // r and z first; their epilogue writes r ⊙ h, which the n rows multiply.
                step.Step(t, active, GruStepEpilogue.Phase.ResetGate);
                Gemm.MultiplyTransposedAddBias(h, active, hidden, w.Hidden, scratch, 2 * hidden, step);
                step.Step(t, active, GruStepEpilogue.Phase.Update);
                Gemm.MultiplyTransposedAddBias(scratch.AsSpan(active * 2 * hidden, active * hidden), active, hidden, w.HiddenN,
                    scratch.AsSpan(active * 3 * hidden, active * hidden), hidden, step);
            }
        }
    }

    /// <summary>The head over the final states (sorted order), each sequence's raw outputs written at its input position.</summary>
    private void Head(ReadOnlySpan<float> finals, PackedBatch plan, Span<float> headOutputs, GemmSettings settings)
    {
        GruConfig cfg = Config;
        int outs = cfg.HeadOutputs, batch = plan.BatchSize;
        float[] rented = Workspace.Floats.Rent(batch * outs);
        try
        {
            Span<float> sorted = rented.AsSpan(0, batch * outs);
            Gemm.MultiplyTransposedAddBias(finals, batch, cfg.HeadInputs, _packedHead, sorted, outs, settings);
            for (int j = 0; j < batch; j++)
                sorted.Slice(j * outs, outs).CopyTo(headOutputs.Slice(plan.Original(j) * outs, outs));
        }
        finally
        {
            Workspace.Floats.Return(rented);
        }
    }
}
