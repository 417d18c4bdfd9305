using System.Text.Json;
using GruService.Api.Datasets;

namespace GruService.Api.Training;

/// <summary>
/// A job's request with its inline data replaced by a short description of it. Inline data can be megabytes: the
/// trained model's card records the request, and a safetensors header (where the card lives) is limited in size, so a
/// job whose data would not fit failed at publish after training; and the job list shows every job's request, so it
/// grew with every inline job. The job's own record (GET /v1/training-jobs/{id}) keeps the data, which a resumed job
/// trains on again.
/// </summary>
public static class TrainingRequestSummary
{
    /// <summary>
    /// The request with "data" replaced by {"inline": true, ...counts}: for forecast data the series, steps, values per
    /// step and values; for classify data the sequences, steps, values per step, values and distinct labels. A request
    /// without inline data is returned as it is.
    /// </summary>
    public static JsonElement WithoutInlineData(JsonElement request)
    {
        if (request.ValueKind != JsonValueKind.Object || !request.TryGetProperty("data", out JsonElement data)
            || data.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
            return request;
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            foreach (JsonProperty property in request.EnumerateObject())
            {
                writer.WritePropertyName(property.Name);
                if (property.NameEquals("data")) WriteDescription(writer, data);
                else property.Value.WriteTo(writer);
            }
            writer.WriteEndObject();
        }
        using JsonDocument described = JsonDocument.Parse(buffer.WrittenMemory);
        return described.RootElement.Clone();
    }

    private static void WriteDescription(Utf8JsonWriter writer, JsonElement data)
    {
        writer.WriteStartObject();
        writer.WriteBoolean("inline", true);
        if (data.ValueKind == JsonValueKind.Object)
        {
            if (data.TryGetProperty("series", out JsonElement series) && series.ValueKind == JsonValueKind.Array)
                WriteSequences(writer, "series", series);
            if (data.TryGetProperty("inputs", out JsonElement inputs) && inputs.ValueKind == JsonValueKind.Array)
                WriteSequences(writer, "sequences", inputs);
            if (data.TryGetProperty("labels", out JsonElement labels) && labels.ValueKind == JsonValueKind.Array)
                writer.WriteNumber("labels", labels.EnumerateArray().Select(LabelText).Distinct(StringComparer.Ordinal).Count());
        }
        writer.WriteEndObject();
    }

    /// <summary>How many sequences, steps and values; the values per step when every step has as many (as accepted data does).</summary>
    private static void WriteSequences(Utf8JsonWriter writer, string name, JsonElement sequences)
    {
        long steps = 0, values = 0;
        int width = -1;
        foreach (JsonElement sequence in sequences.EnumerateArray())
        {
            if (sequence.ValueKind != JsonValueKind.Array) continue;
            foreach (JsonElement step in sequence.EnumerateArray())
            {
                int count = step.ValueKind == JsonValueKind.Array ? step.GetArrayLength() : 1;
                width = width < 0 || width == count ? count : 0;
                steps++;
                values += count;
            }
        }
        writer.WriteNumber(name, sequences.GetArrayLength());
        writer.WriteNumber("steps", steps);
        if (width > 0) writer.WriteNumber("features", width);
        writer.WriteNumber("values", values);
    }

    /// <summary>A label as the job will store it: a whole number as its decimal text, so 3 and 3.0 count once.</summary>
    private static string LabelText(JsonElement label) => ClassLabels.FromJson(label) ?? label.ToString();
}
