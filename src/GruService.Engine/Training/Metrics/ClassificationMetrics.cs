namespace GruService.Engine.Training.Metrics;

/// <summary>
/// A confusion matrix accumulated over batches, with accuracy and macro-F1. Class indices are positions in
/// <see cref="Classes"/> (the model's head order).
/// </summary>
public sealed class ClassificationMetrics
{
    private readonly long[] _confusion; // [actual, predicted] row-major

    public ClassificationMetrics(IReadOnlyList<string> classes)
    {
        if (classes.Count == 0) throw new ArgumentException("There must be at least one class.", nameof(classes));
        Classes = [.. classes];
        _confusion = new long[classes.Count * classes.Count];
    }

    public IReadOnlyList<string> Classes { get; }
    public long Count { get; private set; }

    public void Add(int actual, int predicted)
    {
        int classes = Classes.Count;
        if ((uint)actual >= (uint)classes) throw new ArgumentOutOfRangeException(nameof(actual), actual, $"There are {classes} classes.");
        if ((uint)predicted >= (uint)classes) throw new ArgumentOutOfRangeException(nameof(predicted), predicted, $"There are {classes} classes.");
        _confusion[actual * classes + predicted]++;
        Count++;
    }

    public void Add(ReadOnlySpan<int> actual, ReadOnlySpan<int> predicted)
    {
        if (actual.Length != predicted.Length)
            throw new ArgumentException($"{predicted.Length} predictions for {actual.Length} labels.", nameof(predicted));
        for (int i = 0; i < actual.Length; i++) Add(actual[i], predicted[i]);
    }

    /// <summary>Adds a batch of scores [B, classes] (probabilities or logits): the prediction is the highest, the first on a tie.</summary>
    public void AddScores(ReadOnlySpan<float> scores, ReadOnlySpan<int> actual)
    {
        int classes = Classes.Count;
        if (scores.Length != actual.Length * classes)
            throw new ArgumentException($"{scores.Length} scores for {actual.Length} labels of {classes} classes.", nameof(scores));
        for (int b = 0; b < actual.Length; b++)
        {
            ReadOnlySpan<float> row = scores.Slice(b * classes, classes);
            int best = 0;
            for (int c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
            Add(actual[b], best);
        }
    }

    /// <summary>Sequences of class <paramref name="actual"/> predicted as <paramref name="predicted"/>.</summary>
    public long Confusion(int actual, int predicted) => _confusion[actual * Classes.Count + predicted];

    /// <summary>A copy of the confusion matrix, [actual][predicted], rows and columns in <see cref="Classes"/> order.</summary>
    public long[][] ConfusionMatrix()
    {
        int classes = Classes.Count;
        return [.. Enumerable.Range(0, classes).Select(a => _confusion.AsSpan(a * classes, classes).ToArray())];
    }

    /// <summary>Correct predictions over all; NaN before any.</summary>
    public double Accuracy
    {
        get
        {
            long correct = 0;
            for (int c = 0; c < Classes.Count; c++) correct += Confusion(c, c);
            return (double)correct / Count;
        }
    }

    /// <summary>
    /// F1 of class c: 2·TP / (2·TP + FP + FN), which is 2PR / (P + R) and is 0 when P + R = 0 (no correct
    /// prediction); null when the class has neither examples nor predictions.
    /// </summary>
    public double? F1(int c)
    {
        long truePositives = Confusion(c, c), examples = 0, predictions = 0;
        for (int k = 0; k < Classes.Count; k++)
        {
            examples += Confusion(c, k);
            predictions += Confusion(k, c);
        }
        if (examples == 0 && predictions == 0) return null;
        return 2.0 * truePositives / (examples + predictions);
    }

    /// <summary>The mean F1 of the classes that have examples or predictions; NaN before any.</summary>
    public double MacroF1
    {
        get
        {
            double sum = 0;
            int counted = 0;
            for (int c = 0; c < Classes.Count; c++)
            {
                if (F1(c) is not { } f1) continue;
                sum += f1;
                counted++;
            }
            return counted == 0 ? double.NaN : sum / counted;
        }
    }
}
