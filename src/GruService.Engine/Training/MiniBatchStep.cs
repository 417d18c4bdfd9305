using System.Numerics.Tensors;
using GruService.Engine.Training.Data;
using GruService.Engine.Training.Optimization;

namespace GruService.Engine.Training;

/// <summary>
/// The gradient of one mini-batch, as an optimiser step needs it: the batch split into one shard per thread, each
/// shard's forward and backward pass on its own thread, the shards' gradients summed in shard order whatever order
/// the threads finished in (so a seed and thread count give the same bits every run), averaged and clipped.
/// </summary>
internal sealed class MiniBatchStep
{
    private readonly Shard[] _shards;
    private readonly float[] _gradient;

    /// <param name="config">The architecture.</param>
    /// <param name="parameterCount">Values in the parameter vector.</param>
    /// <param name="threads">Shards, each run on its own thread.</param>
    /// <param name="productThreading">
    /// How each shard runs its products: on its own core (the default, and what the trainer uses: the shards already
    /// keep every core busy), or split over two by <see cref="Kernels.Gemm"/>. The benchmark compares the two.
    /// </param>
    public MiniBatchStep(GruConfig config, int parameterCount, int threads, Kernels.GemmThreading productThreading = Kernels.GemmThreading.Single)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(threads, 1);
        _shards = [.. Enumerable.Range(0, threads).Select(_ => new Shard(config, parameterCount))];
        foreach (Shard shard in _shards) shard.Pass.ProductThreading = productThreading;
        _gradient = new float[parameterCount];
    }

    public Shard[] Shards => _shards;

    /// <summary>The mean, clipped gradient of the last <see cref="ComputeGradient"/>.</summary>
    public Span<float> Gradient => _gradient;

    /// <summary>
    /// Fills <see cref="Gradient"/> for the examples at <paramref name="positions"/> of the training part and returns
    /// the sum of their losses; <paramref name="flops"/> gets the work done, counted as <see cref="Shard.ForwardFlops"/>
    /// says. The seed of shard s's dropout masks is <paramref name="dropoutSeed"/>(s); a <paramref name="clipNorm"/> of 0
    /// does not clip.
    /// </summary>
    public double ComputeGradient(TrainingProblem problem, GruParameters<float> parameters, int[] positions, double dropout,
        Func<int, int> dropoutSeed, float clipNorm, out double flops)
    {
        int threads = _shards.Length;
        Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, s =>
        {
            Range range = MiniBatches.Shard(positions.Length, threads, s);
            _shards[s].Run(problem, DataPart.Train, parameters, positions[range], dropout, dropoutSeed(s), backward: true);
        });
        // Summed in shard order whatever order the threads finished in: the same bits every run.
        Array.Clear(_gradient);
        double loss = 0;
        flops = 0;
        foreach (Shard shard in _shards)
        {
            TensorPrimitives.Add(_gradient, shard.Gradient, _gradient);
            loss += shard.Loss;
            flops += shard.Flops;
        }
        TensorPrimitives.Multiply(_gradient, 1f / positions.Length, _gradient);
        if (clipNorm > 0) GradientClipping.ClipByGlobalNorm(_gradient, clipNorm);
        return loss;
    }

    /// <summary>One thread's share of a batch: its buffers, pass, gradient and loss.</summary>
    internal sealed class Shard(GruConfig config, int parameterCount)
    {
        public readonly BatchBuffers Buffers = new();
        public readonly GruTrainingPass<float> Pass = new(config);
        public readonly float[] Gradient = new float[parameterCount];
        public double Loss;
        public double Flops;

        public void Run(TrainingProblem problem, DataPart part, GruParameters<float> parameters, int[] positions, double dropout, int dropoutSeed, bool backward)
        {
            Array.Clear(Gradient);
            Loss = 0;
            Flops = 0;
            if (positions.Length == 0) return;
            problem.Fill(part, positions, Buffers);
            int steps = problem.TotalSteps(part, positions);
            Loss = (double)Pass.Forward(parameters, Buffers.Inputs.AsSpan(0, steps * problem.InputSize), Buffers.Lengths.AsSpan(0, positions.Length),
                problem.Targets(Buffers, positions.Length), new TrainingOptions(dropout), dropout > 0 ? new Random(dropoutSeed) : null);
            if (backward)
            {
                Pass.Backward(parameters, Gradient);
                Flops = 3 * ForwardFlops(config, steps);
            }
        }

        /// <summary>
        /// Floating-point operations of the GRU products of a forward pass over <paramref name="steps"/> packed rows,
        /// counted as ONNX Runtime's benchmark (bench_ort.js) counts them: 2·3·(in·H + H·H) per row, layer and
        /// direction. A training step is counted as 3 × this (forward, input and hidden gradients, weight gradients);
        /// the head and the gate math are left out.
        /// </summary>
        public static double ForwardFlops(GruConfig config, long steps)
        {
            double total = 0;
            for (int layer = 0; layer < config.NumLayers; layer++)
                total += 2.0 * 3 * ((double)config.LayerInputSize(layer) * config.HiddenSize + (double)config.HiddenSize * config.HiddenSize) * steps * config.Directions;
            return total;
        }
    }
}
