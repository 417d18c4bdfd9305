using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using GruService.Engine.Kernels;

namespace GruService.Engine.Training;

/// <summary>
/// Forward pass and backpropagation through time for one (shard of a) mini-batch, with the workspace they need.
/// Buffers grow to the largest batch seen and are reused, so once warmed up a pass allocates nothing.
/// Not thread-safe: use one per thread.
/// </summary>
/// <remarks>
/// Sequences are packed as the inference engine packs them (<see cref="PackedBatch"/>). Each direction's per-step
/// state is kept in the order that direction reads the rows ("direction order"): forward order for direction 0, and for
/// direction 1 row (j, t) holds sequence j's step length − 1 − t, so both directions run the same prefix-active loop.
/// <para>
/// Only the recurrence is step by step: the forward recurrent product and, backwards, the gradient sent through W_hh
/// to the previous state. Everything else is one product over every step of the batch: the input projection, and
/// after the backward recurrence the weight gradients (dW_ih = Σ dgatesᵀ x, dW_hh = Σ dhiddenᵀ h_prev over the
/// stored per-step gradients and previous states) and the gradient of the inputs. For float these products run on
/// <see cref="Gemm"/>'s kernels against weights packed once per direction and pass; other types (the double the
/// gradient checks use) run the same algorithm on <see cref="TrainingMath"/>'s loops.
/// </para>
/// </remarks>
public sealed class GruTrainingPass<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private readonly GruConfig _config;
    private readonly GruParameterLayout _layout;
    private readonly int _hidden, _width, _outputs;
    private readonly PackedBatch _batch = new();

    // Kept by Forward for Backward.
    private readonly T[][] _layerInputs;  // per layer, [steps, layer input] forward order, dropout applied
    private readonly T[][] _layerMasks;   // per layer ≥ 1, [steps, width]: 0 or 1/(1 − p)
    private readonly T[][] _gates;        // per layer direction, [steps, 3H] direction order: activations r, z, n
    private readonly T[][] _states;       // per layer direction, [steps, H] direction order: h after each step
    private readonly T[][] _previous;     // per layer direction, [steps, H] direction order: h before each step (0 at t = 0)
    private readonly T[][] _candidates;   // per layer direction, [steps, H]: W_hn h + b_hn (linear before reset), r ⊙ h (reset before matmul)
    private T[] _headInputs = [];         // [batch, width] sorted order: final states, dropout applied
    private T[] _headMask = [];
    private T[] _dLogits = [];            // [batch, outputs] sorted order: ∂loss/∂head output
    private T[] _outputValues = [];       // [batch, outputs] input order

    // Scratch.
    private T[] _reversed = [];           // [steps, widest input]: a layer's input, or its gradient, in reverse direction order
    private T[] _logits = [];
    private T[] _stepHidden = [];         // [batch, 3H]: one step's recurrent product
    private T[] _stepCandidate = [];      // [batch, H]: W_hn (r ⊙ h) + b_hn of one step
    private T[] _dGates = [];             // [steps, 3H] direction order: ∂loss/∂gate pre-activations
    private T[] _dLayerOutputs = [];      // [steps, width] forward order: ∂loss/∂(this layer's per-step outputs)
    private T[] _dLayerInputs = [];       // [steps, width] forward order: ∂loss/∂(this layer's inputs)
    private T[] _dh = [];
    private T[] _dhPrevious = [];
    private T[] _dHidden = [];            // [steps, 3H] direction order: ∂loss/∂(recurrent product); reset-before-matmul: [steps, 2H] r, z then [steps, H] n
    private T[] _dResetHidden = [];       // [batch, H]: ∂loss/∂(r ⊙ h) of one step
    private T[] _dHeadInputs = [];
    private T[] _rowScratch = [];

    private bool _dropout, _ready;
    private int _outputCount;

    // The float kernels' state: weights packed for the direction being run (re-packed for each), and the weight
    // gradients' scratch copies.
    private readonly TrainingPanels _inputWeights = new(), _recurrentWeights = new(), _candidateWeights = new();
    private readonly TrainingGemmWorkspace _gradientWorkspace = new();
    // Linear before reset on the kernels: each step's gate gradients are made in small row-major buffers (for that step's
    // recurrent product) and packed at once, while in cache, into the panels the weight-gradient products read.
    private T[] _stepDGates = [], _stepDHidden = [];    // [batch, 3H]
    private readonly AlignedFloats _packedDGates = new(), _packedDHidden = new(); // panels of [steps, 3H]
    private GemmSettings _productSettings = new(Threading: GemmThreading.Single);
    private readonly bool _loopProducts;

    public GruTrainingPass(GruConfig config) : this(config, loopProducts: false)
    {
    }

    /// <param name="config">The architecture.</param>
    /// <param name="loopProducts">
    /// Run float products on <see cref="TrainingMath"/>'s loops instead of the kernels (tests compare the two); other
    /// types always do.
    /// </param>
    internal GruTrainingPass(GruConfig config, bool loopProducts)
    {
        _loopProducts = loopProducts;
        _config = config;
        _layout = new GruParameterLayout(config);
        _hidden = config.HiddenSize;
        _width = config.HeadInputs;
        _outputs = config.HeadOutputs;
        int layerDirections = config.NumLayers * config.Directions;
        _layerInputs = new T[config.NumLayers][];
        _layerMasks = new T[config.NumLayers][];
        _gates = new T[layerDirections][];
        _states = new T[layerDirections][];
        _previous = new T[layerDirections][];
        _candidates = new T[layerDirections][];
        Array.Fill(_layerInputs, []);
        Array.Fill(_layerMasks, []);
        Array.Fill(_gates, []);
        Array.Fill(_states, []);
        Array.Fill(_previous, []);
        Array.Fill(_candidates, []);
    }

    public GruConfig Config => _config;

    /// <summary>
    /// Whether float products use one core (the default: the trainer runs one pass per core on its own shard) or
    /// may split large products over two (<see cref="Gemm"/>'s helper thread). Kept to measure the two.
    /// </summary>
    internal GemmThreading ProductThreading
    {
        get => _productSettings.Threading;
        set => _productSettings = _productSettings with { Threading = value };
    }

    /// <summary>
    /// The head outputs of the last <see cref="Forward"/>, per sequence in input order: normalised-space forecasts
    /// ([horizon][output_size]; [horizon] of its one column for a channel-independent model) or class probabilities.
    /// </summary>
    public ReadOnlySpan<T> Outputs => _outputValues.AsSpan(0, _outputCount);

    /// <summary>
    /// Runs the batch and returns the sum over its sequences of each sequence's loss, keeping what
    /// <see cref="Backward"/> needs.
    /// </summary>
    /// <param name="parameters">The values to run with; Backward must get the same ones.</param>
    /// <param name="inputs">
    /// The sequences back to back, already normalised, <see cref="GruConfig.LayerInputSize"/>(0) values per step: what
    /// the GRU reads. That is input_size values per time step for a plain model; with the forecast extensions a step
    /// is a segment of time steps, of one column when channel-independent (each column then being its own sequence).
    /// </param>
    /// <param name="lengths">GRU steps per sequence; sequences may differ in length.</param>
    /// <param name="targets">Forecast targets or class labels, per sequence in input order.</param>
    /// <param name="options">Dropout.</param>
    /// <param name="dropoutRandom">Where dropout masks come from; needed when <see cref="TrainingOptions.Dropout"/> &gt; 0.</param>
    public T Forward(GruParameters<T> parameters, ReadOnlySpan<T> inputs, ReadOnlySpan<int> lengths,
        TrainingTargets<T> targets, TrainingOptions options, Random? dropoutRandom)
    {
        _ready = false;
        _outputCount = 0;
        CheckParameters(parameters);
        double p = options.Dropout;
        if (!(p >= 0 && p < 1))
            throw new ArgumentOutOfRangeException(nameof(options), $"Dropout must be in [0, 1); got {p}.");
        if (p > 0 && dropoutRandom is null)
            throw new ArgumentNullException(nameof(dropoutRandom), "Dropout needs a random source.");
        _batch.Reset(lengths);
        int steps = _batch.TotalSteps, batch = _batch.BatchSize;
        if (inputs.Length != (long)steps * _config.LayerInputSize(0))
            throw new ArgumentException($"inputs has {inputs.Length} values; lengths give {steps} steps of {_config.LayerInputSize(0)}.", nameof(inputs));
        CheckTargets(targets, batch);
        _dropout = p > 0;
        Reserve(steps, batch);

        ReadOnlySpan<T> values = parameters.Values;
        PackInputs(inputs);
        for (int layer = 0; layer < _config.NumLayers; layer++)
        {
            if (layer > 0 && _dropout)
            {
                Span<T> x = _layerInputs[layer].AsSpan(0, steps * _width), mask = _layerMasks[layer].AsSpan(0, steps * _width);
                DrawMask(mask, perStep: true, p, dropoutRandom!);
                TensorPrimitives.Multiply(x, mask, x);
            }
            for (int d = 0; d < _config.Directions; d++)
                ForwardDirection(values, layer, d);
        }

        Span<T> headInputs = _headInputs.AsSpan(0, batch * _width);
        int last = _config.NumLayers - 1;
        for (int j = 0; j < batch; j++)
            for (int d = 0; d < _config.Directions; d++)
            {
                // Both directions end at their own step length − 1 of direction order.
                ReadOnlySpan<T> final = _states[last * _config.Directions + d].AsSpan(_batch.Row(j, _batch.Length(j) - 1) * _hidden, _hidden);
                final.CopyTo(headInputs.Slice(j * _width + d * _hidden, _hidden));
            }
        if (_dropout)
        {
            Span<T> mask = _headMask.AsSpan(0, batch * _width);
            DrawMask(mask, perStep: false, p, dropoutRandom!);
            TensorPrimitives.Multiply(headInputs, mask, headInputs);
        }

        Span<T> logits = _logits.AsSpan(0, batch * _outputs);
        TrainingMath.MultiplyTransposed(headInputs, batch, _width, values.Slice(_layout.HeadWeight, _outputs * _width), _outputs,
            values.Slice(_layout.HeadBias, _outputs), logits);
        T loss = T.Zero;
        for (int j = 0; j < batch; j++)
        {
            int original = _batch.Original(j);
            ReadOnlySpan<T> y = logits.Slice(j * _outputs, _outputs);
            Span<T> output = _outputValues.AsSpan(original * _outputs, _outputs), dy = _dLogits.AsSpan(j * _outputs, _outputs);
            if (_config.Task == GruTask.Forecast)
            {
                y.CopyTo(output);
                loss += TrainingLoss.Forecast(y, targets.Values.Span.Slice(original * _outputs, _outputs), targets.Loss, targets.HuberDelta, dy);
            }
            else
            {
                int label = targets.Labels.Span[original];
                T weight = targets.ClassWeights.IsEmpty ? T.One : targets.ClassWeights.Span[label];
                loss += TrainingLoss.CrossEntropy(y, label, weight, output, dy);
            }
        }
        _outputCount = batch * _outputs;
        _ready = true;
        return loss;
    }

    /// <summary>
    /// Adds ∂(the loss the last <see cref="Forward"/> returned)/∂parameter to <paramref name="gradient"/>, laid out as
    /// <see cref="GruParameters{T}.Values"/>. <paramref name="parameters"/> must hold the values Forward used.
    /// </summary>
    public void Backward(GruParameters<T> parameters, Span<T> gradient)
    {
        if (!_ready) throw new InvalidOperationException("Backward needs a successful Forward first.");
        CheckParameters(parameters);
        if (gradient.Length != _layout.Count)
            throw new ArgumentException($"gradient has {gradient.Length} values; the parameters have {_layout.Count}.", nameof(gradient));
        ReadOnlySpan<T> values = parameters.Values;
        int batch = _batch.BatchSize, steps = _batch.TotalSteps;

        // Head: y = W f + b over the (dropped-out) final states f.
        ReadOnlySpan<T> dLogits = _dLogits.AsSpan(0, batch * _outputs), headInputs = _headInputs.AsSpan(0, batch * _width);
        TrainingMath.AddTransposedProduct(dLogits, batch, _outputs, headInputs, _width, gradient.Slice(_layout.HeadWeight, _outputs * _width));
        TrainingMath.AddColumnSums(dLogits, batch, _outputs, gradient.Slice(_layout.HeadBias, _outputs));
        Span<T> dHeadInputs = _dHeadInputs.AsSpan(0, batch * _width);
        TrainingMath.Multiply(dLogits, batch, _outputs, values.Slice(_layout.HeadWeight, _outputs * _width), _width, dHeadInputs);
        if (_dropout) TensorPrimitives.Multiply(dHeadInputs, _headMask.AsSpan(0, batch * _width), dHeadInputs);

        for (int layer = _config.NumLayers - 1; layer >= 0; layer--)
        {
            for (int d = 0; d < _config.Directions; d++)
                BackwardDirection(values, gradient, layer, d);
            if (layer > 0)
            {
                // What this layer's inputs receive is what the layer below's outputs receive, through the same mask.
                Span<T> dInputs = _dLayerInputs.AsSpan(0, steps * _width);
                if (_dropout) TensorPrimitives.Multiply(dInputs, _layerMasks[layer].AsSpan(0, steps * _width), dInputs);
                (_dLayerInputs, _dLayerOutputs) = (_dLayerOutputs, _dLayerInputs);
            }
        }
    }

    private void ForwardDirection(ReadOnlySpan<T> values, int layer, int d)
    {
        int hidden = _hidden, gateWidth = 3 * hidden, inWidth = _config.LayerInputSize(layer), steps = _batch.TotalSteps;
        DirectionOffsets at = _layout.Direction(layer, d);
        ReadOnlySpan<T> wIh = values.Slice(at.WeightIh, gateWidth * inWidth), bIh = values.Slice(at.BiasIh, gateWidth);
        ReadOnlySpan<T> wHh = values.Slice(at.WeightHh, gateWidth * hidden), bHh = values.Slice(at.BiasHh, gateWidth);
        ReadOnlySpan<T> wHrz = wHh.Slice(0, 2 * hidden * hidden), bHrz = bHh.Slice(0, 2 * hidden);
        ReadOnlySpan<T> wHn = wHh.Slice(2 * hidden * hidden), bHn = bHh.Slice(2 * hidden);
        int index = layer * _config.Directions + d;
        Span<T> gates = _gates[index].AsSpan(0, steps * gateWidth);
        Span<T> states = _states[index].AsSpan(0, steps * hidden), candidates = _candidates[index].AsSpan(0, steps * hidden);
        Span<T> previous = _previous[index].AsSpan(0, steps * hidden);

        // The input projection of every step of every sequence is one matrix product.
        PackTransposed(_inputWeights, wIh, gateWidth, inWidth, bIh);
        MultiplyTransposed(_inputWeights, DirectionInputs(layer, d), steps, inWidth, wIh, gateWidth, bIh, gates);

        if (_config.LinearBeforeReset)
        {
            PackTransposed(_recurrentWeights, wHh, gateWidth, hidden, bHh);
        }
        else
        {
            PackTransposed(_recurrentWeights, wHrz, 2 * hidden, hidden, bHrz);
            PackTransposed(_candidateWeights, wHn, hidden, hidden, bHn);
        }
        previous.Slice(0, _batch.Active(0) * hidden).Clear();
        for (int t = 0; t < _batch.MaxLength; t++)
        {
            int active = _batch.Active(t), first = _batch.StepOffset(t);
            ReadOnlySpan<T> hPrev = previous.Slice(first * hidden, active * hidden);
            Span<T> stepGates = gates.Slice(first * gateWidth, active * gateWidth);
            Span<T> h = states.Slice(first * hidden, active * hidden), candidate = candidates.Slice(first * hidden, active * hidden);
            if (_config.LinearBeforeReset)
            {
                Span<T> hiddenGates = _stepHidden.AsSpan(0, active * gateWidth);
                MultiplyTransposed(_recurrentWeights, hPrev, active, hidden, wHh, gateWidth, bHh, hiddenGates);
                for (int j = 0; j < active; j++)
                {
                    GruCellMath.ForwardLinearBeforeReset(stepGates.Slice(j * gateWidth, gateWidth), hiddenGates.Slice(j * gateWidth, gateWidth),
                        hPrev.Slice(j * hidden, hidden), h.Slice(j * hidden, hidden));
                    hiddenGates.Slice(j * gateWidth + 2 * hidden, hidden).CopyTo(candidate.Slice(j * hidden, hidden));
                }
            }
            else
            {
                Span<T> hiddenRz = _stepHidden.AsSpan(0, active * 2 * hidden);
                MultiplyTransposed(_recurrentWeights, hPrev, active, hidden, wHrz, 2 * hidden, bHrz, hiddenRz);
                for (int j = 0; j < active; j++)
                    GruCellMath.ResetGate(stepGates.Slice(j * gateWidth, gateWidth), hiddenRz.Slice(j * 2 * hidden, 2 * hidden),
                        hPrev.Slice(j * hidden, hidden), candidate.Slice(j * hidden, hidden));
                Span<T> hiddenN = _stepCandidate.AsSpan(0, active * hidden);
                MultiplyTransposed(_candidateWeights, candidate, active, hidden, wHn, hidden, bHn, hiddenN);
                for (int j = 0; j < active; j++)
                    GruCellMath.UpdateAfterReset(stepGates.Slice(j * gateWidth, gateWidth), hiddenN.Slice(j * hidden, hidden),
                        hPrev.Slice(j * hidden, hidden), h.Slice(j * hidden, hidden));
            }
            // The sequences still running at t + 1 are the first ones: their states are the next step's previous rows.
            // Kept row-aligned with every step so that the backward pass can take dW_hh as one product over all steps.
            int next = _batch.Active(t + 1);
            if (next > 0) h.Slice(0, next * hidden).CopyTo(previous.Slice(_batch.StepOffset(t + 1) * hidden, next * hidden));
        }

        if (layer < _config.NumLayers - 1)
            _batch.MapRows<T>(states, hidden, _layerInputs[layer + 1].AsSpan(d * hidden), _width, hidden, reverse: d == 1, add: false);
    }

    private void BackwardDirection(ReadOnlySpan<T> values, Span<T> gradient, int layer, int d)
    {
        int hidden = _hidden, gateWidth = 3 * hidden, inWidth = _config.LayerInputSize(layer), steps = _batch.TotalSteps;
        bool topLayer = layer == _config.NumLayers - 1;
        DirectionOffsets at = _layout.Direction(layer, d);
        ReadOnlySpan<T> wHh = values.Slice(at.WeightHh, gateWidth * hidden);
        ReadOnlySpan<T> wHrz = wHh.Slice(0, 2 * hidden * hidden), wHn = wHh.Slice(2 * hidden * hidden);
        Span<T> dWhh = gradient.Slice(at.WeightHh, gateWidth * hidden), dBhh = gradient.Slice(at.BiasHh, gateWidth);
        Span<T> dBih = gradient.Slice(at.BiasIh, gateWidth);
        int index = layer * _config.Directions + d;
        ReadOnlySpan<T> gates = _gates[index].AsSpan(0, steps * gateWidth);
        ReadOnlySpan<T> previous = _previous[index].AsSpan(0, steps * hidden), candidates = _candidates[index].AsSpan(0, steps * hidden);
        ReadOnlySpan<T> dOutputs = topLayer ? default : _dLayerOutputs.AsSpan(0, steps * _width);
        ReadOnlySpan<T> dHeadInputs = _dHeadInputs.AsSpan(0, _batch.BatchSize * _width);
        bool packSteps = PacksStepGradients;
        bool rowMajorDGates = !packSteps || layer > 0; // the input gradient below reads them row-major
        Span<T> dGates = rowMajorDGates ? _dGates.AsSpan(0, steps * gateWidth) : default;
        // Linear before reset: one [steps, 3H] block. Reset before matmul: r and z ([steps, 2H]) multiply h, n
        // ([steps, H]) multiplies r ⊙ h, so they are kept apart for their two weight-gradient products.
        Span<T> dHidden = packSteps ? default : _dHidden.AsSpan(0, steps * gateWidth);
        Span<T> dHiddenRz = packSteps ? default : dHidden.Slice(0, steps * 2 * hidden), dHiddenN = packSteps ? default : dHidden.Slice(steps * 2 * hidden);
        Span<T> dh = _dh.AsSpan(0, _batch.BatchSize * hidden), dhPrevious = _dhPrevious.AsSpan(0, _batch.BatchSize * hidden);
        Span<T> scratch = _rowScratch.AsSpan(0, hidden);
        Span<float> packedDGates = default, packedDHidden = default;
        if (packSteps)
        {
            long panelled = (long)PackedWeights.PanelCount(gateWidth) * PackedWeights.PanelWidth * steps;
            packedDGates = _packedDGates.Reserve(panelled);
            packedDHidden = _packedDHidden.Reserve(panelled);
            TrainingGemm.ClearTailPanel(packedDGates, gateWidth, steps);
            TrainingGemm.ClearTailPanel(packedDHidden, gateWidth, steps);
        }

        // Backwards, W_hh sends gradients from the recurrent product's outputs to its inputs: c = a · W_hh.
        if (_config.LinearBeforeReset)
        {
            Pack(_recurrentWeights, wHh, gateWidth, hidden);
        }
        else
        {
            Pack(_recurrentWeights, wHrz, 2 * hidden, hidden);
            Pack(_candidateWeights, wHn, hidden, hidden);
        }

        for (int t = _batch.MaxLength - 1; t >= 0; t--)
        {
            int active = _batch.Active(t), first = _batch.StepOffset(t);
            // Sequences [Active(t + 1), active) take their last step here: no gradient flows in from later steps, only
            // (in the top layer) what the head sends their final state.
            for (int j = _batch.Active(t + 1); j < active; j++)
            {
                Span<T> row = dh.Slice(j * hidden, hidden);
                if (topLayer) dHeadInputs.Slice(j * _width + d * hidden, hidden).CopyTo(row);
                else row.Clear();
            }
            if (!topLayer)
                for (int j = 0; j < active; j++)
                {
                    int time = d == 0 ? t : _batch.Length(j) - 1 - t;
                    Span<T> row = dh.Slice(j * hidden, hidden);
                    TensorPrimitives.Add(row, dOutputs.Slice(_batch.Row(j, time) * _width + d * hidden, hidden), row);
                }

            ReadOnlySpan<T> hPrev = previous.Slice(first * hidden, active * hidden);
            ReadOnlySpan<T> stepGates = gates.Slice(first * gateWidth, active * gateWidth), candidate = candidates.Slice(first * hidden, active * hidden);
            Span<T> stepDGates = rowMajorDGates ? dGates.Slice(first * gateWidth, active * gateWidth) : _stepDGates.AsSpan(0, active * gateWidth);
            Span<T> dhPrev = dhPrevious.Slice(0, active * hidden);
            for (int j = 0; j < active; j++)
                GruCellMath.UpdateAndCandidateGradients(dh.Slice(j * hidden, hidden), hPrev.Slice(j * hidden, hidden),
                    stepGates.Slice(j * gateWidth, gateWidth), stepDGates.Slice(j * gateWidth, gateWidth));

            if (_config.LinearBeforeReset)
            {
                // The recurrent product W_h h + b_h feeds r and z directly and n through r ⊙ (W_hn h + b_hn).
                Span<T> stepDHidden = packSteps ? _stepDHidden.AsSpan(0, active * gateWidth) : dHidden.Slice(first * gateWidth, active * gateWidth);
                for (int j = 0; j < active; j++)
                    GruCellMath.ResetAndRecurrentGradients(candidate.Slice(j * hidden, hidden), stepGates.Slice(j * gateWidth, gateWidth),
                        stepDGates.Slice(j * gateWidth, gateWidth), stepDHidden.Slice(j * gateWidth, gateWidth), dBih, dBhh);
                if (packSteps)
                {
                    TrainingGemm.PackRows(AsFloats(stepDGates), active, gateWidth, packedDGates, steps, first);
                    TrainingGemm.PackRows(AsFloats(stepDHidden), active, gateWidth, packedDHidden, steps, first);
                }
                if (t > 0) // h_0 = 0: nothing before it to send a gradient to
                {
                    Multiply(_recurrentWeights, stepDHidden, active, gateWidth, wHh, hidden, dhPrev);
                    for (int j = 0; j < active; j++)
                    {
                        Span<T> row = dhPrev.Slice(j * hidden, hidden);
                        TensorPrimitives.FusedMultiplyAdd(dh.Slice(j * hidden, hidden), stepGates.Slice(j * gateWidth + hidden, hidden), row, row);
                    }
                }
            }
            else
            {
                // n reads W_hn (r ⊙ h) + b_hn: its gradient goes back through W_hn to r ⊙ h, and from there to r and h.
                Span<T> stepDHiddenRz = dHiddenRz.Slice(first * 2 * hidden, active * 2 * hidden), stepDHiddenN = dHiddenN.Slice(first * hidden, active * hidden);
                for (int j = 0; j < active; j++)
                    stepDGates.Slice(j * gateWidth + 2 * hidden, hidden).CopyTo(stepDHiddenN.Slice(j * hidden, hidden));
                Span<T> dResetHidden = _dResetHidden.AsSpan(0, active * hidden);
                Multiply(_candidateWeights, stepDHiddenN, active, hidden, wHn, hidden, dResetHidden);
                for (int j = 0; j < active; j++)
                {
                    Span<T> dg = stepDGates.Slice(j * gateWidth, gateWidth);
                    GruCellMath.ResetGradient(dResetHidden.Slice(j * hidden, hidden), hPrev.Slice(j * hidden, hidden),
                        stepGates.Slice(j * gateWidth, gateWidth), dg, scratch);
                    dg.Slice(0, 2 * hidden).CopyTo(stepDHiddenRz.Slice(j * 2 * hidden, 2 * hidden));
                }
                if (t > 0)
                {
                    Multiply(_recurrentWeights, stepDHiddenRz, active, 2 * hidden, wHrz, hidden, dhPrev);
                    for (int j = 0; j < active; j++)
                    {
                        Span<T> row = dhPrev.Slice(j * hidden, hidden);
                        ReadOnlySpan<T> g = stepGates.Slice(j * gateWidth, gateWidth);
                        TensorPrimitives.FusedMultiplyAdd(dh.Slice(j * hidden, hidden), g.Slice(hidden, hidden), row, row);
                        TensorPrimitives.FusedMultiplyAdd(dResetHidden.Slice(j * hidden, hidden), g.Slice(0, hidden), row, row);
                    }
                }
            }
            Span<T> swap = dh;
            dh = dhPrevious;
            dhPrevious = swap;
        }

        // The recurrent weights' gradients over every step at once. The first step's rows read h_0 = 0: they add to
        // the biases only, so the weight products start at the second step (row Active(0)).
        int firstRows = _batch.Active(0), laterRows = steps - firstRows;
        ReadOnlySpan<T> laterPrevious = previous.Slice(firstRows * hidden);
        if (packSteps)
        {
            // Every step's rows, the first's included: they read h_0 = 0 (previous's first rows), so they add nothing,
            // and the panels' rows stay those of previous. (The biases' gradients were summed as the rows were made.)
            TrainingGemm.AddPackedTransposedProduct(packedDHidden, steps, gateWidth, AsFloats(previous), hidden, AsFloats(dWhh), _productSettings, _gradientWorkspace);
        }
        else if (_config.LinearBeforeReset)
        {
            AddTransposedProduct(dHidden.Slice(firstRows * gateWidth), laterRows, gateWidth, laterPrevious, hidden, dWhh);
        }
        else
        {
            TrainingMath.AddColumnSums<T>(dHiddenRz, steps, 2 * hidden, dBhh.Slice(0, 2 * hidden));
            TrainingMath.AddColumnSums<T>(dHiddenN, steps, hidden, dBhh.Slice(2 * hidden));
            AddTransposedProduct(dHiddenRz.Slice(firstRows * 2 * hidden), laterRows, 2 * hidden, laterPrevious, hidden, dWhh.Slice(0, 2 * hidden * hidden));
            AddTransposedProduct(dHiddenN, steps, hidden, candidates, hidden, dWhh.Slice(2 * hidden * hidden));
        }

        // The input side, like the forward projection, is one product over every step.
        ReadOnlySpan<T> dAllGates = dGates;
        ReadOnlySpan<T> wIh = values.Slice(at.WeightIh, gateWidth * inWidth);
        Span<T> dWih = gradient.Slice(at.WeightIh, gateWidth * inWidth);
        if (packSteps)
            TrainingGemm.AddPackedTransposedProduct(packedDGates, steps, gateWidth, AsFloats(DirectionInputs(layer, d)), inWidth, AsFloats(dWih), _productSettings, _gradientWorkspace);
        else
            AddTransposedProduct(dAllGates, steps, gateWidth, DirectionInputs(layer, d), inWidth, dWih);
        if (!_config.LinearBeforeReset) TrainingMath.AddColumnSums(dAllGates, steps, gateWidth, dBih);
        if (layer == 0) return; // nobody needs the gradient of the data

        Pack(_inputWeights, wIh, gateWidth, inWidth);
        Span<T> dInputs = _dLayerInputs.AsSpan(0, steps * inWidth);
        if (d == 0)
        {
            Multiply(_inputWeights, dAllGates, steps, gateWidth, wIh, inWidth, dInputs);
        }
        else
        {
            Span<T> dReversed = _reversed.AsSpan(0, steps * inWidth);
            Multiply(_inputWeights, dAllGates, steps, gateWidth, wIh, inWidth, dReversed);
            _batch.MapRows<T>(dReversed, inWidth, dInputs, inWidth, inWidth, reverse: true, add: true);
        }
    }

    // The products of the pass. For float (unless told to use the loops) the weight operand is packed once per
    // direction and every product runs on Gemm's kernels; typeof(T) is a constant to the JIT, so each type's
    // compiled code keeps only its own branch.
    private bool UseKernels => typeof(T) == typeof(float) && !_loopProducts;

    /// <summary>Whether the backward pass packs each step's gate gradients for the weight gradients (else it keeps them row-major).</summary>
    private bool PacksStepGradients => UseKernels && _config.LinearBeforeReset;

    private static ReadOnlySpan<float> AsFloats(ReadOnlySpan<T> values) => MemoryMarshal.Cast<T, float>(values);

    private static Span<float> AsFloats(Span<T> values) => MemoryMarshal.Cast<T, float>(values);

    /// <summary>Packs W [n, k] (and its bias) for <see cref="MultiplyTransposed"/>.</summary>
    private void PackTransposed(TrainingPanels panels, ReadOnlySpan<T> weight, int n, int k, ReadOnlySpan<T> bias)
    {
        if (UseKernels) panels.PackTransposed(AsFloats(weight), n, k, AsFloats(bias));
    }

    /// <summary>Packs B [k, n] for <see cref="Multiply"/>.</summary>
    private void Pack(TrainingPanels panels, ReadOnlySpan<T> b, int k, int n)
    {
        if (UseKernels) panels.Pack(AsFloats(b), k, n);
    }

    /// <summary>c = a · wᵀ + bias for a [m, k], w [n, k]; the kernels read <paramref name="packed"/>, which must hold w.</summary>
    private void MultiplyTransposed(TrainingPanels packed, ReadOnlySpan<T> a, int m, int k, ReadOnlySpan<T> w, int n, ReadOnlySpan<T> bias, Span<T> c)
    {
        if (UseKernels) packed.Multiply(AsFloats(a), m, k, AsFloats(c), n, _productSettings);
        else TrainingMath.MultiplyTransposed(a, m, k, w, n, bias, c);
    }

    /// <summary>c = a · b for a [m, k], b [k, n]; the kernels read <paramref name="packed"/>, which must hold b.</summary>
    private void Multiply(TrainingPanels packed, ReadOnlySpan<T> a, int m, int k, ReadOnlySpan<T> b, int n, Span<T> c)
    {
        if (UseKernels) packed.Multiply(AsFloats(a), m, k, AsFloats(c), n, _productSettings);
        else TrainingMath.Multiply(a, m, k, b, n, c);
    }

    /// <summary>c += aᵀ · b for a [m, k], b [m, n]: a weight gradient summed over m rows.</summary>
    private void AddTransposedProduct(ReadOnlySpan<T> a, int m, int k, ReadOnlySpan<T> b, int n, Span<T> c)
    {
        if (UseKernels) TrainingGemm.AddTransposedProduct(AsFloats(a), m, k, AsFloats(b), n, AsFloats(c), _productSettings, _gradientWorkspace);
        else TrainingMath.AddTransposedProduct(a, m, k, b, n, c);
    }

    /// <summary>The input rows of a layer in the order direction <paramref name="d"/> reads them.</summary>
    private ReadOnlySpan<T> DirectionInputs(int layer, int d)
    {
        int inWidth = _config.LayerInputSize(layer), steps = _batch.TotalSteps;
        ReadOnlySpan<T> x = _layerInputs[layer].AsSpan(0, steps * inWidth);
        if (d == 0) return x;
        Span<T> reversed = _reversed.AsSpan(0, steps * inWidth);
        _batch.MapRows(x, inWidth, reversed, inWidth, inWidth, reverse: true, add: false);
        return reversed;
    }

    private void PackInputs(ReadOnlySpan<T> inputs)
    {
        int size = _config.LayerInputSize(0);
        Span<T> packed = _layerInputs[0];
        for (int j = 0; j < _batch.BatchSize; j++)
        {
            int source = _batch.SourceOffset(j);
            for (int t = 0; t < _batch.Length(j); t++)
                inputs.Slice((source + t) * size, size).CopyTo(packed.Slice(_batch.Row(j, t) * size, size));
        }
    }

    /// <summary>
    /// Fills an inverted-dropout mask, drawing sequence by sequence in input order (then step by step, value by value)
    /// so the masks a seed gives do not depend on how the batch is packed.
    /// </summary>
    private void DrawMask(Span<T> mask, bool perStep, double p, Random random)
    {
        T scale = T.CreateTruncating(1 / (1 - p));
        for (int original = 0; original < _batch.BatchSize; original++)
        {
            int j = _batch.Sorted(original);
            if (perStep)
                for (int t = 0; t < _batch.Length(j); t++)
                    Fill(mask.Slice(_batch.Row(j, t) * _width, _width));
            else
                Fill(mask.Slice(j * _width, _width));
        }

        void Fill(Span<T> values)
        {
            for (int i = 0; i < values.Length; i++) values[i] = random.NextDouble() < p ? T.Zero : scale;
        }
    }

    private void CheckParameters(GruParameters<T> parameters)
    {
        if (!_layout.Fits(parameters.Config) || parameters.Values.Length != _layout.Count)
            throw new ArgumentException("The parameters are for a different architecture than this pass.", nameof(parameters));
    }

    private void CheckTargets(TrainingTargets<T> targets, int batch)
    {
        if (targets.Task != _config.Task)
            throw new ArgumentException($"The targets are for {targets.Task}; the model does {_config.Task}.", nameof(targets));
        if (_config.Task == GruTask.Forecast)
        {
            if (targets.Values.Length != (long)batch * _outputs)
                throw new ArgumentException($"There are {targets.Values.Length} target values; {batch} sequences need {batch * _outputs}.", nameof(targets));
            return;
        }
        if (targets.Labels.Length != batch)
            throw new ArgumentException($"There are {targets.Labels.Length} labels for {batch} sequences.", nameof(targets));
        foreach (int label in targets.Labels.Span)
            if ((uint)label >= (uint)_outputs)
                throw new ArgumentException($"Label {label} is not a class index (0 to {_outputs - 1}).", nameof(targets));
        if (!targets.ClassWeights.IsEmpty && targets.ClassWeights.Length != _outputs)
            throw new ArgumentException($"There are {targets.ClassWeights.Length} class weights for {_outputs} classes.", nameof(targets));
    }

    /// <summary>Grows every buffer to what a batch of this size needs; a batch no larger than one seen before allocates nothing.</summary>
    private void Reserve(int steps, int batch)
    {
        int hidden = _hidden, gateWidth = 3 * hidden;
        for (int layer = 0; layer < _config.NumLayers; layer++)
        {
            Grow(ref _layerInputs[layer], (long)steps * _config.LayerInputSize(layer));
            if (layer > 0 && _dropout) Grow(ref _layerMasks[layer], (long)steps * _width);
        }
        for (int i = 0; i < _gates.Length; i++)
        {
            Grow(ref _gates[i], (long)steps * gateWidth);
            Grow(ref _states[i], (long)steps * hidden);
            Grow(ref _previous[i], (long)steps * hidden);
            Grow(ref _candidates[i], (long)steps * hidden);
        }
        Grow(ref _headInputs, (long)batch * _width);
        if (_dropout) Grow(ref _headMask, (long)batch * _width);
        Grow(ref _dLogits, (long)batch * _outputs);
        Grow(ref _outputValues, (long)batch * _outputs);
        Grow(ref _logits, (long)batch * _outputs);
        if (_config.Bidirectional) Grow(ref _reversed, (long)steps * Math.Max(_config.LayerInputSize(0), _width));
        Grow(ref _stepHidden, (long)batch * gateWidth);
        Grow(ref _stepCandidate, (long)batch * hidden);
        if (!PacksStepGradients || _config.NumLayers > 1) Grow(ref _dGates, (long)steps * gateWidth);
        if (_config.NumLayers > 1)
        {
            Grow(ref _dLayerOutputs, (long)steps * _width);
            Grow(ref _dLayerInputs, (long)steps * _width);
        }
        Grow(ref _dh, (long)batch * hidden);
        Grow(ref _dhPrevious, (long)batch * hidden);
        if (!PacksStepGradients) Grow(ref _dHidden, (long)steps * gateWidth);
        Grow(ref _stepDGates, (long)batch * gateWidth);
        Grow(ref _stepDHidden, (long)batch * gateWidth);
        Grow(ref _dResetHidden, (long)batch * hidden);
        Grow(ref _dHeadInputs, (long)batch * _width);
        Grow(ref _rowScratch, hidden);
    }

    private static void Grow(ref T[] buffer, long length)
    {
        if (length > Array.MaxLength) throw new ArgumentException("The batch is too large for one training pass; split it into shards.");
        if (buffer.Length < length) buffer = new T[length];
    }
}
