using System.ComponentModel.DataAnnotations;

namespace GruService.Api.Datasets;

/// <summary>What an uploaded dataset may be. Bound from the "Datasets" section.</summary>
public sealed class DatasetOptions
{
    public const string Section = "Datasets";

    /// <summary>Largest upload body; larger ones answer 413.</summary>
    [Range(typeof(long), "1024", "9223372036854775807")]
    public long MaxUploadBytes { get; set; } = 1L << 30;

    /// <summary>
    /// Longest line (a CSV record, quoted line breaks included, or an NDJSON line). A line is the unit held in memory
    /// while it is parsed, so this bounds the memory one upload takes.
    /// </summary>
    [Range(1024, 1 << 30)]
    public int MaxLineBytes { get; set; } = 64 << 20;

    /// <summary>Most columns in a CSV header, features or not.</summary>
    [Range(1, 1 << 20)]
    public int MaxColumns { get; set; } = 10_000;

    /// <summary>Most features: numeric CSV columns, or numbers in one NDJSON time step.</summary>
    [Range(1, 1 << 20)]
    public int MaxFeatures { get; set; } = 4096;

    /// <summary>Most series (distinct values of the CSV 'series' column).</summary>
    [Range(1, 10_000_000)]
    public int MaxSeries { get; set; } = 100_000;

    /// <summary>Most time steps in one NDJSON sequence.</summary>
    [Range(1, 100_000_000)]
    public int MaxSequenceLength { get; set; } = 100_000;

    /// <summary>Most distinct NDJSON labels.</summary>
    [Range(1, 10_000_000)]
    public int MaxLabels { get; set; } = 65_536;
}
