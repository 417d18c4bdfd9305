namespace GruService.Engine.Training.Data;

/// <summary>
/// How each series' rows divide, in time order, into a training part, a validation part and an optional test part,
/// and whether a validation or test window may take its inputs from the rows before its part.
/// A window belongs to the part that holds its targets; the training statistics come from the training rows.
/// </summary>
public sealed class ForecastSplit
{
    private ForecastSplit(double? validationFraction, double? testFraction, int? validationStart, int? testStart, int? end, bool inputsReachBack)
    {
        ValidationFraction = validationFraction;
        TestFraction = testFraction;
        ValidationStart = validationStart;
        TestStart = testStart;
        End = end;
        InputsReachBack = inputsReachBack;
    }

    /// <summary>
    /// The last <paramref name="validation"/> (then <paramref name="test"/>) fraction of each series' rows. For a
    /// series of n rows: test rows = round(n·test), training rows = n − round(n·(validation + test)), validation
    /// the rows between (rounding half away from zero). By default no window crosses a boundary, inputs or targets.
    /// </summary>
    public static ForecastSplit Fractional(double validation, double test = 0, bool inputsReachBack = false)
    {
        if (!(validation >= 0) || !(test >= 0) || !(validation + test < 1))
            throw new ArgumentException($"Validation {validation} and test {test} fractions must be ≥ 0 and leave some rows for training.");
        return new ForecastSplit(validation, test, null, null, null, inputsReachBack);
    }

    /// <summary>
    /// Fixed row indices, the same in every series: training rows [0, validationStart), validation
    /// [validationStart, testStart or end), test [testStart, end); rows from end on are unused; a boundary past a
    /// series' end is clipped to it. With <paramref name="inputsReachBack"/> (the default, as in the published
    /// long-horizon protocol) a validation or test window may start up to window steps before its part, so its
    /// first target is the part's first row. ETTh1: <c>AtRows(8640, 11520, 14400)</c>.
    /// </summary>
    public static ForecastSplit AtRows(int validationStart, int? testStart = null, int? end = null, bool inputsReachBack = true)
    {
        int validationEnd = testStart ?? end ?? int.MaxValue;
        if (validationStart < 1 || validationEnd < validationStart || (end is { } e && e < validationEnd))
            throw new ArgumentException(
                $"Split rows must satisfy 0 < validation start ({validationStart}) ≤ test start ({testStart?.ToString() ?? "none"}) ≤ end ({end?.ToString() ?? "series end"}).");
        return new ForecastSplit(null, null, validationStart, testStart, end, inputsReachBack);
    }

    public double? ValidationFraction { get; }
    public double? TestFraction { get; }
    public int? ValidationStart { get; }
    public int? TestStart { get; }
    public int? End { get; }
    public bool InputsReachBack { get; }
    public bool HasTest => TestFraction > 0 || TestStart is not null;

    /// <summary>The part boundaries in a series of <paramref name="rows"/> rows.</summary>
    internal SplitRows Resolve(int rows)
    {
        if (ValidationFraction is { } validation && TestFraction is { } test)
        {
            int testRows = Round(rows * test);
            int heldOut = Round(rows * (validation + test));
            return new SplitRows(rows - heldOut, rows - testRows, rows);
        }
        int end = Math.Min(End ?? rows, rows);
        int trainEnd = Math.Min(ValidationStart!.Value, end);
        int validationEnd = Math.Min(TestStart ?? end, end);
        return new SplitRows(trainEnd, validationEnd, end);
    }

    private static int Round(double value) => (int)Math.Round(value, MidpointRounding.AwayFromZero);
}

/// <summary>Training rows [0, TrainEnd), validation [TrainEnd, ValidationEnd), test [ValidationEnd, TestEnd).</summary>
internal readonly record struct SplitRows(int TrainEnd, int ValidationEnd, int TestEnd);
