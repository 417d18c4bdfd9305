using System.Text;

namespace GruService.Api.Observability;

/// <summary>How an instrument is exposed to Prometheus.</summary>
internal enum PrometheusType
{
    Counter,
    Gauge,
    Histogram,
}

/// <summary>
/// Instrument and tag names turned into Prometheus names the way OpenTelemetry's Prometheus exporter does
/// (https://opentelemetry.io/docs/specs/otel/compatibility/prometheus_and_openmetrics/), so that dashboards
/// written against OpenTelemetry-exported ASP.NET Core and runtime metrics work unchanged.
/// </summary>
internal static class PrometheusNaming
{
    private static readonly string[] ReservedSuffixes = ["_count", "_sum", "_bucket"];

    /// <summary>
    /// The family name: the sanitized instrument name, then the unit unless the name already ends with it,
    /// then <c>_total</c> for counters or <c>_ratio</c> for gauges of unit "1".
    /// </summary>
    public static string MetricName(string instrumentName, string? unit, PrometheusType type)
    {
        string name = SanitizeMetricName(instrumentName);
        string unitWord = string.IsNullOrEmpty(unit) ? "" : UnitWord(unit);
        if (unitWord.Length > 0 && !name.EndsWith(unitWord, StringComparison.Ordinal))
            name += "_" + unitWord;
        if (type == PrometheusType.Counter && !name.EndsWith("_total", StringComparison.Ordinal))
            name += "_total";
        if (type == PrometheusType.Gauge && unit == "1" && !name.EndsWith("_ratio", StringComparison.Ordinal))
            name += "_ratio";
        // Prometheus reserves these suffixes for histogram and summary series, and promtool rejects a gauge that ends in
        // one (the runtime's dotnet.assembly.count, dotnet.process.cpu.count, dotnet.timer.count). The one departure
        // from OpenTelemetry's names: such a gauge gets "_value" appended.
        if (type == PrometheusType.Gauge && ReservedSuffixes.Any(suffix => name.EndsWith(suffix, StringComparison.Ordinal)))
            name += "_value";
        return name;
    }

    /// <summary>A tag key as a label name: every character outside [a-zA-Z0-9] becomes '_' (runs are kept, unlike metric names).</summary>
    public static string LabelName(string tagKey)
    {
        if (tagKey.Length == 0)
            return "_";
        var label = new StringBuilder(tagKey.Length + 1);
        if (char.IsAsciiDigit(tagKey[0]))
            label.Append('_');
        foreach (char c in tagKey)
            label.Append(char.IsAsciiLetterOrDigit(c) ? c : '_');
        return label.ToString();
    }

    /// <summary>Characters outside [a-zA-Z0-9:] become '_', and runs of '_' collapse to one.</summary>
    internal static string SanitizeMetricName(string name) => ReplaceInvalidRuns(name, prefixLeadingDigit: true);

    /// <summary>
    /// The UCUM unit as the word Prometheus puts at the end of a name: annotations in braces dropped
    /// (<c>{request}</c> is a count, so unitless), abbreviations spelled out, <c>a/b</c> as <c>a_per_b</c>.
    /// Unit "1" maps to nothing here; gauges get <c>_ratio</c> in <see cref="MetricName"/>.
    /// </summary>
    internal static string UnitWord(string unit)
    {
        string withoutAnnotations = RemoveAnnotations(unit);
        int slash = withoutAnnotations.IndexOf('/');
        string word = slash >= 0 && slash < withoutAnnotations.Length - 1
            ? UnitAbbreviation(withoutAnnotations[..slash]) + "_per_" + PerUnitAbbreviation(withoutAnnotations[(slash + 1)..])
            : UnitAbbreviation(withoutAnnotations);
        return ReplaceInvalidRuns(word, prefixLeadingDigit: false).Trim('_');
    }

    private static string RemoveAnnotations(string unit)
    {
        if (!unit.Contains('{'))
            return unit;
        var kept = new StringBuilder(unit.Length);
        int depth = 0;
        foreach (char c in unit)
        {
            if (c == '{')
                depth++;
            else if (c == '}' && depth > 0)
                depth--;
            else if (depth == 0)
                kept.Append(c);
        }
        return kept.ToString();
    }

    private static string UnitAbbreviation(string unit) => unit switch
    {
        "d" => "days",
        "h" => "hours",
        "min" => "minutes",
        "s" => "seconds",
        "ms" => "milliseconds",
        "us" => "microseconds",
        "ns" => "nanoseconds",
        "By" or "B" => "bytes",
        "KiBy" => "kibibytes",
        "MiBy" => "mebibytes",
        "GiBy" => "gibibytes",
        "TiBy" => "tibibytes",
        "KBy" or "KB" => "kilobytes",
        "MBy" or "MB" => "megabytes",
        "GBy" or "GB" => "gigabytes",
        "TBy" or "TB" => "terabytes",
        "m" => "meters",
        "V" => "volts",
        "A" => "amperes",
        "J" => "joules",
        "W" => "watts",
        "g" => "grams",
        "Cel" => "celsius",
        "Hz" => "hertz",
        "1" => "",
        "%" => "percent",
        "$" => "dollars",
        _ => unit,
    };

    private static string PerUnitAbbreviation(string unit) => unit switch
    {
        "s" => "second",
        "m" => "minute",
        "h" => "hour",
        "d" => "day",
        "w" => "week",
        "mo" => "month",
        "y" => "year",
        _ => unit,
    };

    private static string ReplaceInvalidRuns(string text, bool prefixLeadingDigit)
    {
        var result = new StringBuilder(text.Length + 1);
        if (prefixLeadingDigit && text.Length > 0 && char.IsAsciiDigit(text[0]))
            result.Append('_');
        foreach (char c in text)
        {
            if (char.IsAsciiLetterOrDigit(c) || c == ':')
                result.Append(c);
            else if (result.Length == 0 || result[^1] != '_')
                result.Append('_');
        }
        return result.ToString();
    }
}
