using System.Globalization;
using System.Text;

namespace GruService.Api.Observability;

/// <summary>
/// Writes Prometheus text exposition format 0.0.4
/// (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format).
/// </summary>
internal sealed class PrometheusTextWriter(StringBuilder output)
{
    public void WriteFamilyHeader(string name, string help, PrometheusType type)
    {
        output.Append("# HELP ").Append(name).Append(' ');
        AppendEscaped(output, help, escapeQuotes: false);
        output.Append("\n# TYPE ").Append(name).Append(' ').Append(type switch
        {
            PrometheusType.Counter => "counter",
            PrometheusType.Gauge => "gauge",
            _ => "histogram",
        }).Append('\n');
    }

    /// <param name="name">The sample name: the family name, or for histograms the family name plus _sum or _count.</param>
    /// <param name="labels">Rendered by <see cref="RenderLabels"/>; empty for none.</param>
    /// <param name="value">Counts and sums alike; doubles hold every count a process reaches exactly (up to 2^53).</param>
    public void WriteSample(string name, string labels, double value)
    {
        output.Append(name);
        if (labels.Length > 0)
            output.Append('{').Append(labels).Append('}');
        output.Append(' ');
        AppendValue(output, value);
        output.Append('\n');
    }

    public void WriteBucket(string familyName, string labels, double upperBound, long cumulativeCount)
    {
        output.Append(familyName).Append("_bucket{");
        if (labels.Length > 0)
            output.Append(labels).Append(',');
        output.Append("le=\"");
        AppendValue(output, upperBound);
        output.Append("\"} ");
        AppendValue(output, cumulativeCount);
        output.Append('\n');
    }

    /// <summary>
    /// Tags as the inside of a label set: <c>a="x",b="y"</c>, sorted by label name so the same tags always
    /// render the same text. Keys that map to the same label name are merged, values joined with ';'
    /// in the order of their original keys, as the OpenTelemetry specification asks; a label may appear only once.
    /// </summary>
    public static string RenderLabels(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (tags.IsEmpty)
            return "";
        var labels = new (string Name, string Key, string Value)[tags.Length];
        for (int i = 0; i < tags.Length; i++)
            labels[i] = (PrometheusNaming.LabelName(tags[i].Key), tags[i].Key, TagValueText(tags[i].Value));
        Array.Sort(labels, static (a, b) =>
        {
            int byName = string.CompareOrdinal(a.Name, b.Name);
            return byName != 0 ? byName : string.CompareOrdinal(a.Key, b.Key);
        });

        var text = new StringBuilder();
        for (int i = 0; i < labels.Length; i++)
        {
            bool sameLabelAsPrevious = i > 0 && labels[i].Name == labels[i - 1].Name;
            if (sameLabelAsPrevious)
            {
                text.Length--; // reopen the previous value's closing quote
                text.Append(';');
            }
            else
            {
                if (i > 0)
                    text.Append(',');
                text.Append(labels[i].Name).Append("=\"");
            }
            AppendEscaped(text, labels[i].Value, escapeQuotes: true);
            text.Append('"');
        }
        return text.ToString();
    }

    private static string TagValueText(object? value) => value switch
    {
        null => "",
        string text => text,
        bool flag => flag ? "true" : "false",
        IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString() ?? "",
    };

    /// <summary>Label values escape backslash, double quote and newline; HELP text escapes only backslash and newline.</summary>
    private static void AppendEscaped(StringBuilder output, string text, bool escapeQuotes)
    {
        foreach (char c in text)
        {
            switch (c)
            {
                case '\\': output.Append(@"\\"); break;
                case '\n': output.Append(@"\n"); break;
                case '"' when escapeQuotes: output.Append("\\\""); break;
                default: output.Append(c); break;
            }
        }
    }

    private static void AppendValue(StringBuilder output, double value)
    {
        if (double.IsPositiveInfinity(value))
            output.Append("+Inf");
        else if (double.IsNegativeInfinity(value))
            output.Append("-Inf");
        else if (double.IsNaN(value))
            output.Append("NaN");
        else
            AppendFormattable(output, value);
    }

    private static void AppendValue(StringBuilder output, long value) => AppendFormattable(output, value);

    private static void AppendFormattable<T>(StringBuilder output, T value) where T : ISpanFormattable
    {
        // Shortest round-trip text, never the current culture's decimal comma.
        Span<char> buffer = stackalloc char[32];
        value.TryFormat(buffer, out int written, default, CultureInfo.InvariantCulture);
        output.Append(buffer[..written]);
    }
}
