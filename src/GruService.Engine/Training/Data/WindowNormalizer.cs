using System.Buffers;

namespace GruService.Engine.Training.Data;

/// <summary>Per-window normalisation (RevIN-style, without learned affine parameters).</summary>
public enum WindowNormalization
{
    /// <summary>Windows are only standardised with the global statistics.</summary>
    None,

    /// <summary>Each input column has its mean over the window subtracted.</summary>
    Mean,

    /// <summary>Each input column has its value at the window's last step subtracted.</summary>
    Last,
}

/// <summary>
/// Per-window normalisation: the model sees each window relative to its own level and forecasts the target
/// columns relative to that same level, which keeps it honest on series whose level shifts over time.
/// </summary>
/// <remarks>
/// <para>The math, which inference must reproduce exactly. It acts on a window that is already globally
/// standardised, x′[t, i] = (x[t, i] − input_mean[i]) / input_std[i] in float32 (subtract, then divide), for steps
/// t = 0 … T − 1 and input columns i = 0 … I − 1:</para>
/// <list type="number">
/// <item>Offsets, one per input column: <c>Mean</c>: o[i] = float32( (Σ_t double(x′[t, i])) / T ), the sum taken in
/// double in time order; <c>Last</c>: o[i] = x′[T − 1, i]; <c>None</c>: o[i] = 0.</item>
/// <item>Inputs the GRU reads: x″[t, i] = x′[t, i] − o[i] (float32).</item>
/// <item>Each target column j is input column k = target_input_index[j], and its offset is ô[j] = o[k].
/// Training targets: y″[h, j] = y′[h, j] − ô[j], where y′[h, j] = (y[h, j] − target_mean[j]) / target_std[j].
/// As target column j is input column k, target_mean[j] = input_mean[k] and target_std[j] = input_std[k]:
/// targets and inputs share one standardised scale, so the offset means the same on both sides.</item>
/// <item>Forecast: the head's output ŷ″[h, j] becomes ŷ′[h, j] = ŷ″[h, j] + ô[j] (float32), then in original units
/// ŷ[h, j] = fma(ŷ′[h, j], target_std[j], target_mean[j]), the de-normalisation the service already applies.</item>
/// </list>
/// <para>In original units the offset is the raw window's mean (or last value) of that column: the inputs become
/// (x − level) / std and the forecast is level + std · ŷ″ (up to float rounding; the steps above are the exact ones).</para>
/// </remarks>
public sealed class WindowNormalizer
{
    private readonly int[] _targetInputIndex;

    /// <param name="mode">Which offset to subtract.</param>
    /// <param name="inputCount">I, the input columns per step.</param>
    /// <param name="targetInputIndex">For each target column, its position among the input columns; −1 (not an input) only with None.</param>
    public WindowNormalizer(WindowNormalization mode, int inputCount, IReadOnlyList<int> targetInputIndex)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(inputCount, 1);
        if (targetInputIndex.Count == 0) throw new ArgumentException("There must be at least one target column.", nameof(targetInputIndex));
        if (!Enum.IsDefined(mode)) throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown window normalisation.");
        for (int j = 0; j < targetInputIndex.Count; j++)
            if ((uint)targetInputIndex[j] >= (uint)inputCount && !(mode == WindowNormalization.None && targetInputIndex[j] == -1))
                throw new ArgumentException($"Target {j} maps to input {targetInputIndex[j]}; there are {inputCount} inputs.", nameof(targetInputIndex));
        Mode = mode;
        InputCount = inputCount;
        _targetInputIndex = [.. targetInputIndex];
    }

    public WindowNormalization Mode { get; }
    public int InputCount { get; }
    public int TargetCount => _targetInputIndex.Length;

    /// <summary>For each target column, its position among the input columns (−1 if it is not one, with None only).</summary>
    public IReadOnlyList<int> TargetInputIndex => _targetInputIndex;

    /// <summary>
    /// Subtracts each input column's offset from a standardised window, in place, and writes the target columns'
    /// offsets ô (zeros for <see cref="WindowNormalization.None"/>).
    /// </summary>
    /// <param name="window">[T, I] standardised inputs, T ≥ 1.</param>
    /// <param name="targetOffsets">[TargetCount] receives ô.</param>
    public void Normalize(Span<float> window, Span<float> targetOffsets)
    {
        int inputs = InputCount;
        if (window.IsEmpty || window.Length % inputs != 0)
            throw new ArgumentException($"The window has {window.Length} values, not a positive multiple of {inputs} inputs.", nameof(window));
        if (targetOffsets.Length != TargetCount)
            throw new ArgumentException($"targetOffsets has {targetOffsets.Length} values; there are {TargetCount} targets.", nameof(targetOffsets));
        if (Mode == WindowNormalization.None)
        {
            targetOffsets.Clear();
            return;
        }

        int steps = window.Length / inputs;
        float[]? rented = inputs > 256 ? ArrayPool<float>.Shared.Rent(inputs) : null;
        Span<float> offsets = rented is null ? stackalloc float[inputs] : rented.AsSpan(0, inputs);
        try
        {
            if (Mode == WindowNormalization.Last)
            {
                window.Slice((steps - 1) * inputs, inputs).CopyTo(offsets);
            }
            else
            {
                for (int i = 0; i < inputs; i++)
                {
                    double sum = 0;
                    for (int t = 0; t < steps; t++) sum += window[t * inputs + i];
                    offsets[i] = (float)(sum / steps);
                }
            }
            for (int t = 0; t < steps; t++)
            {
                Span<float> row = window.Slice(t * inputs, inputs);
                for (int i = 0; i < inputs; i++) row[i] -= offsets[i];
            }
            for (int j = 0; j < _targetInputIndex.Length; j++) targetOffsets[j] = offsets[_targetInputIndex[j]];
        }
        finally
        {
            if (rented is not null) ArrayPool<float>.Shared.Return(rented);
        }
    }

    /// <summary>Training targets: subtracts ô[j] from every step of target column j, in place.</summary>
    /// <param name="targets">[H, TargetCount] standardised targets.</param>
    /// <param name="targetOffsets">[TargetCount] ô from <see cref="Normalize"/>.</param>
    public void RemoveOffsets(Span<float> targets, ReadOnlySpan<float> targetOffsets) => Shift(targets, targetOffsets, -1);

    /// <summary>Forecasts: adds ô[j] back to every step of target column j, in place, giving standardised values.</summary>
    /// <param name="forecast">[H, TargetCount] head outputs.</param>
    /// <param name="targetOffsets">[TargetCount] ô from <see cref="Normalize"/>.</param>
    public void RestoreOffsets(Span<float> forecast, ReadOnlySpan<float> targetOffsets) => Shift(forecast, targetOffsets, +1);

    private void Shift(Span<float> values, ReadOnlySpan<float> targetOffsets, int sign)
    {
        int targets = TargetCount;
        if (targetOffsets.Length != targets)
            throw new ArgumentException($"targetOffsets has {targetOffsets.Length} values; there are {targets} targets.", nameof(targetOffsets));
        if (values.Length % targets != 0)
            throw new ArgumentException($"{values.Length} values are not whole steps of {targets} targets.", nameof(values));
        if (Mode == WindowNormalization.None) return;
        for (int h = 0; h < values.Length; h += targets)
        {
            Span<float> step = values.Slice(h, targets);
            for (int j = 0; j < targets; j++) step[j] = sign > 0 ? step[j] + targetOffsets[j] : step[j] - targetOffsets[j];
        }
    }
}
