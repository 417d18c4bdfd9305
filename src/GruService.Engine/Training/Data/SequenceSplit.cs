namespace GruService.Engine.Training.Data;

/// <summary>
/// A <see cref="SequenceSet"/> divided into training and validation sequences, with the input statistics of the
/// training part, and the filling of ragged batches. Immutable; <see cref="Fill"/> may run on several threads at once.
/// </summary>
/// <remarks>
/// A batch value is x′ = (x − input_mean[f]) / input_std[f] in float32 (subtract, then divide), as the service
/// normalises. The statistics are per feature, in double, over every step of every training sequence: the mean
/// and the population standard deviation (divisor n), a standard deviation of 0 replaced by 1.
/// </remarks>
public sealed class SequenceSplit
{
    private readonly float[] _mean, _std;

    internal SequenceSplit(SequenceSet data, int[] train, int[] validation, bool standardize)
    {
        Data = data;
        Train = train;
        Validation = validation;
        Standardize = standardize;
        (_mean, _std) = Statistics(data, train, standardize);
    }

    public SequenceSet Data { get; }

    /// <summary>Training sequence indices, ascending.</summary>
    public IReadOnlyList<int> Train { get; }

    /// <summary>Validation sequence indices, ascending.</summary>
    public IReadOnlyList<int> Validation { get; }

    public bool Standardize { get; }

    /// <summary>For the model config's input_mean: a copy, or null without standardisation.</summary>
    public float[]? InputMean => Standardize ? [.. _mean] : null;

    /// <summary>For the model config's input_std: a copy, or null without standardisation.</summary>
    public float[]? InputStd => Standardize ? [.. _std] : null;

    /// <summary>Time steps of the sequences <paramref name="sequences"/>[positions[b]]: size the inputs buffer with it.</summary>
    public int TotalSteps(IReadOnlyList<int> sequences, ReadOnlySpan<int> positions)
    {
        long total = 0;
        foreach (int p in positions) total += Data.Length(sequences[p]);
        return total <= int.MaxValue ? (int)total : throw new ArgumentException("The batch has too many steps.", nameof(positions));
    }

    /// <summary>
    /// Fills a ragged batch with the sequences <paramref name="sequences"/>[positions[b]] (for example
    /// <see cref="Train"/> and a batch of the epoch's order): inputs receives their standardised steps back to back
    /// ([TotalSteps, FeatureCount]), lengths [B] their lengths, labels [B] their class indices.
    /// </summary>
    public void Fill(IReadOnlyList<int> sequences, ReadOnlySpan<int> positions, Span<float> inputs, Span<int> lengths, Span<int> labels)
    {
        int features = Data.FeatureCount;
        if (lengths.Length != positions.Length || labels.Length != positions.Length)
            throw new ArgumentException($"lengths ({lengths.Length}) and labels ({labels.Length}) must hold one value per sequence ({positions.Length}).");
        if (inputs.Length != (long)TotalSteps(sequences, positions) * features)
            throw new ArgumentException($"inputs has {inputs.Length} values; the batch has {TotalSteps(sequences, positions)} steps of {features}.", nameof(inputs));
        int at = 0;
        for (int b = 0; b < positions.Length; b++)
        {
            int sequence = sequences[positions[b]];
            ReadOnlySpan<float> steps = Data.Steps(sequence);
            Span<float> target = inputs.Slice(at, steps.Length);
            for (int v = 0; v < steps.Length; v += features)
                for (int f = 0; f < features; f++) target[v + f] = (steps[v + f] - _mean[f]) / _std[f];
            at += steps.Length;
            lengths[b] = steps.Length / features;
            labels[b] = Data.Label(sequence);
        }
    }

    private static (float[] Mean, float[] Std) Statistics(SequenceSet data, int[] train, bool standardize)
    {
        int features = data.FeatureCount;
        var mean = new float[features];
        var std = new float[features];
        std.AsSpan().Fill(1);
        if (!standardize) return (mean, std);

        long steps = 0;
        var sum = new double[features];
        foreach (int i in train)
        {
            ReadOnlySpan<float> values = data.Steps(i);
            for (int v = 0; v < values.Length; v += features)
                for (int f = 0; f < features; f++) sum[f] += values[v + f];
            steps += values.Length / features;
        }
        var average = new double[features];
        for (int f = 0; f < features; f++) average[f] = sum[f] / steps;

        var squares = new double[features];
        foreach (int i in train)
        {
            ReadOnlySpan<float> values = data.Steps(i);
            for (int v = 0; v < values.Length; v += features)
                for (int f = 0; f < features; f++)
                {
                    double d = values[v + f] - average[f];
                    squares[f] += d * d;
                }
        }
        for (int f = 0; f < features; f++)
        {
            mean[f] = (float)average[f];
            float deviation = (float)Math.Sqrt(squares[f] / steps);
            std[f] = deviation > 0 && float.IsFinite(deviation) ? deviation : 1;
        }
        return (mean, std);
    }
}
