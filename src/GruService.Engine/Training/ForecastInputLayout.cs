namespace GruService.Engine.Training;

/// <summary>
/// How a forecast model's GRU reads its windows: the architecture extensions of the model format
/// (docs/model-format.md, "Extensions"). The default is the plain model: every column of every time step at once.
/// </summary>
/// <param name="ChannelIndependent">
/// One univariate GRU and head, shared by every column, forecast each input column on its own (config key
/// <c>channel_independent</c>); the targets must be the inputs, in the same order.
/// </param>
/// <param name="SegmentLength">
/// Time steps the GRU reads per step, as one row of SegmentLength × columns values (config key <c>segment_length</c>);
/// it must divide the window.
/// </param>
public sealed record ForecastInputLayout(bool ChannelIndependent = false, int SegmentLength = 1)
{
    /// <summary>Why a model of this layout cannot forecast these targets from these inputs; null when it can.</summary>
    public string? ColumnsProblem(IReadOnlyList<string> inputs, IReadOnlyList<string> targets) =>
        ChannelIndependent && !targets.SequenceEqual(inputs, StringComparer.Ordinal)
            ? $"A channel-independent model forecasts each input column: the targets ({string.Join(", ", targets)}) must be the inputs ({string.Join(", ", inputs)}), in the same order."
            : null;
}
