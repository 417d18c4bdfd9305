using System.Globalization;

namespace GruService.Engine.Training.Data;

/// <summary>
/// Labelled sequences of different lengths for classification. Each sequence is its steps back to back
/// ([length, FeatureCount] row-major), taken as it is, not copied. Labels become class indices: by default the
/// classes are the distinct labels in ordinal (byte-wise) string order, so the same data in any order gives the
/// same head rows.
/// </summary>
public sealed class SequenceSet
{
    private readonly float[][] _sequences;
    private readonly int[] _labels;

    // Keeps the split's streams apart from the epochs' streams of the same seed.
    private const ulong SplitStreams = 0x9F1A_2C37_5B4E_6D81UL;

    /// <param name="featureCount">Values per step: the model's input_size.</param>
    /// <param name="sequences">Each sequence's steps, at least one.</param>
    /// <param name="labels">One label per sequence.</param>
    /// <param name="classes">
    /// The classes in head order, to keep an existing model's order; every label must be one of them.
    /// Null: the distinct labels, in numeric order when every one is a whole number written as .NET writes it
    /// ("-3", "0", "10"; not "09" or "+9"), else in ordinal order.
    /// </param>
    /// <exception cref="ArgumentException">A shape does not fit, a value is not finite, or a label is unknown.</exception>
    public SequenceSet(int featureCount, IReadOnlyList<float[]> sequences, IReadOnlyList<string> labels, IReadOnlyList<string>? classes = null)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(featureCount, 1);
        if (sequences.Count == 0) throw new ArgumentException("There are no sequences.", nameof(sequences));
        if (labels.Count != sequences.Count) throw new ArgumentException($"{labels.Count} labels for {sequences.Count} sequences.", nameof(labels));

        _sequences = [.. sequences];
        for (int i = 0; i < _sequences.Length; i++)
        {
            float[] steps = _sequences[i] ?? throw new ArgumentException($"Sequence {i} is null.", nameof(sequences));
            if (steps.Length == 0 || steps.Length % featureCount != 0)
                throw new ArgumentException($"Sequence {i} has {steps.Length} values, not a positive multiple of {featureCount} features.", nameof(sequences));
            int bad = steps.AsSpan().IndexOfAnyExceptInRange(float.MinValue, float.MaxValue);
            if (bad >= 0)
                throw new ArgumentException($"Sequence {i} step {bad / featureCount} feature {bad % featureCount} is {steps[bad]}; every value must be finite.", nameof(sequences));
            TotalSteps += steps.Length / featureCount;
        }

        if (classes is null)
        {
            string[] distinct = [.. labels.Distinct(StringComparer.Ordinal)];
            // Labels that are class indices written as numbers ("0" … "10") keep their numeric order, so that the
            // head's index of each class is the number; ordinal order would put "10" between "1" and "2".
            Classes = distinct.All(IsWholeNumber)
                ? [.. distinct.OrderBy(label => long.Parse(label, CultureInfo.InvariantCulture))]
                : [.. distinct.Order(StringComparer.Ordinal)];
        }
        else
        {
            Classes = [.. classes];
            if (Classes.Distinct(StringComparer.Ordinal).Count() != Classes.Count)
                throw new ArgumentException("A class is listed twice.", nameof(classes));
        }
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (int c = 0; c < Classes.Count; c++)
        {
            if (string.IsNullOrEmpty(Classes[c])) throw new ArgumentException("A label is empty.", nameof(labels));
            index[Classes[c]] = c;
        }
        _labels = new int[labels.Count];
        for (int i = 0; i < _labels.Length; i++)
            _labels[i] = index.TryGetValue(labels[i] ?? "", out int c)
                ? c
                : throw new ArgumentException($"Sequence {i} has label '{labels[i]}', which is not one of the classes.", nameof(labels));
        FeatureCount = featureCount;
    }

    public int FeatureCount { get; }
    public int Count => _sequences.Length;
    public long TotalSteps { get; }

    /// <summary>The class labels in head order; <see cref="Label"/> indexes this list.</summary>
    public IReadOnlyList<string> Classes { get; }

    public int Length(int sequence) => _sequences[sequence].Length / FeatureCount;

    /// <summary>The sequence's steps, [Length, FeatureCount] row-major.</summary>
    public ReadOnlySpan<float> Steps(int sequence) => _sequences[sequence];

    /// <summary>The sequence's class index.</summary>
    public int Label(int sequence) => _labels[sequence];

    /// <summary>
    /// A stratified split. Within each class, its sequences (in data order) are shuffled with stream c of
    /// <paramref name="seed"/>, and the first round(n_c · validationFraction) go to validation, at most n_c − 1 so
    /// every class keeps a training sequence. Input statistics come from the training sequences only.
    /// </summary>
    /// <param name="validationFraction">In [0, 1).</param>
    /// <param name="seed">The run's seed.</param>
    /// <param name="standardize">Standardise inputs per feature with the training statistics.</param>
    public SequenceSplit Split(double validationFraction, ulong seed, bool standardize = true)
    {
        if (!(validationFraction >= 0 && validationFraction < 1))
            throw new ArgumentOutOfRangeException(nameof(validationFraction), validationFraction, "The validation fraction must be in [0, 1).");
        var members = new List<int>[Classes.Count];
        for (int c = 0; c < members.Length; c++) members[c] = [];
        for (int i = 0; i < Count; i++) members[_labels[i]].Add(i);

        var train = new List<int>(Count);
        var validation = new List<int>();
        for (int c = 0; c < members.Length; c++)
        {
            int[] shuffled = [.. members[c]];
            // A stream per class, so one class's size does not move another class's draw.
            new SeededRandom(seed ^ SplitStreams, (ulong)c).Shuffle(shuffled);
            int held = Math.Max(0, Math.Min((int)Math.Round(shuffled.Length * validationFraction, MidpointRounding.AwayFromZero), shuffled.Length - 1));
            validation.AddRange(shuffled.AsSpan(0, held));
            train.AddRange(shuffled.AsSpan(held));
        }
        train.Sort();
        validation.Sort();
        return new SequenceSplit(this, [.. train], [.. validation], standardize);
    }

    /// <summary>
    /// A split given by the caller: the sequences from <paramref name="firstValidation"/> on are validation, the rest
    /// training (for a separate validation set appended after the training set).
    /// </summary>
    public SequenceSplit SplitAt(int firstValidation, bool standardize = true)
    {
        if (firstValidation < 1 || firstValidation > Count)
            throw new ArgumentOutOfRangeException(nameof(firstValidation), firstValidation, "There must be at least one training sequence.");
        return new SequenceSplit(this, [.. Enumerable.Range(0, firstValidation)], [.. Enumerable.Range(firstValidation, Count - firstValidation)], standardize);
    }

    private static bool IsWholeNumber(string label) =>
        long.TryParse(label, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long value)
        && value.ToString(CultureInfo.InvariantCulture) == label;
}
