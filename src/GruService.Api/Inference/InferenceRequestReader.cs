using System.Text;
using System.Text.Json;

namespace GruService.Api.Inference;

/// <summary>
/// Reads <c>{"inputs": [sequence, ...]}</c> straight into an <see cref="InputBatch"/>, one pass, no intermediate arrays.
/// A sequence is an array of time steps; a step is an array of input_size numbers, or a bare number when input_size is 1.
/// Each error names the exact place: "inputs[2][5] has 3 features; model 'demand' expects 8".
/// </summary>
public static class InferenceRequestReader
{
    private static ReadOnlySpan<byte> InputsProperty => "inputs"u8;

    /// <returns>Null when the batch was read; otherwise what is wrong with the request.</returns>
    public static string? TryRead(ReadOnlySpan<byte> json, string model, int inputSize, InferenceOptions limits, InputBatch batch)
    {
        if (json.Trim(" \t\r\n"u8).IsEmpty)
            return "The body is empty; send {\"inputs\": [sequence, ...]}.";
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 8 });
        try
        {
            if (!reader.Read())
                return "The body is empty; send {\"inputs\": [sequence, ...]}.";
            if (reader.TokenType != JsonTokenType.StartObject)
                return $"The body is a JSON {Describe(reader.TokenType)}; send an object: {{\"inputs\": [sequence, ...]}}.";

            bool sawInputs = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (!IsInputsProperty(ref reader))
                    return $"Unknown property '{PropertyName(ref reader)}'; the body has one property, 'inputs'.";
                if (sawInputs)
                    return "The property 'inputs' appears twice.";
                sawInputs = true;
                reader.Read();
                if (ReadSequences(ref reader, model, inputSize, limits, batch) is { } error)
                    return error;
            }
            if (!sawInputs)
                return "The body has no 'inputs' property; send {\"inputs\": [sequence, ...]}.";
            // Anything after the closing brace other than white space is malformed JSON; the reader reports it.
            while (reader.Read()) { }
            return null;
        }
        catch (JsonException e)
        {
            return $"The body is not valid JSON: {e.Message}";
        }
    }

    private static string? ReadSequences(ref Utf8JsonReader reader, string model, int inputSize, InferenceOptions limits, InputBatch batch)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
            return $"'inputs' is a {Describe(reader.TokenType)}; it must be an array of sequences.";
        int sequence = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (sequence == limits.MaxSequences)
                return $"'inputs' has more than {limits.MaxSequences} sequences, the limit per request (Inference:MaxSequences).";
            if (reader.TokenType != JsonTokenType.StartArray)
                return reader.TokenType == JsonTokenType.Number
                    ? $"inputs[{sequence}] is a number; a sequence is an array of time steps (one sequence of bare numbers is sent as {{\"inputs\": [[1, 2, 3]]}})."
                    : $"inputs[{sequence}] is a {Describe(reader.TokenType)}; a sequence is an array of time steps.";
            int steps = 0;
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                if (steps == limits.MaxStepsPerSequence)
                    return $"inputs[{sequence}] has more than {limits.MaxStepsPerSequence} time steps, the limit per sequence (Inference:MaxStepsPerSequence).";
                if (batch.TotalSteps + steps == limits.MaxTotalSteps)
                    return $"'inputs' has more than {limits.MaxTotalSteps} time steps in all, the limit per request (Inference:MaxTotalSteps).";
                if (ReadStep(ref reader, model, inputSize, batch, sequence, steps) is { } error)
                    return error;
                steps++;
            }
            if (steps == 0)
                return $"inputs[{sequence}] is empty; a sequence needs at least one time step.";
            batch.EndSequence(steps);
            sequence++;
        }
        return sequence == 0 ? "'inputs' is empty; send at least one sequence." : null;
    }

    private static string? ReadStep(ref Utf8JsonReader reader, string model, int inputSize, InputBatch batch, int sequence, int step)
    {
        if (reader.TokenType == JsonTokenType.Number)
        {
            if (inputSize != 1)
                return $"inputs[{sequence}][{step}] is a single number; model '{model}' expects {inputSize} features per time step, as an array.";
            return ReadNumber(ref reader, batch, sequence, step, feature: -1);
        }
        if (reader.TokenType != JsonTokenType.StartArray)
            return $"inputs[{sequence}][{step}] is a {Describe(reader.TokenType)}; a time step is an array of {inputSize} numbers{(inputSize == 1 ? " or one number" : "")}.";
        int features = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number)
                return $"inputs[{sequence}][{step}][{features}] is a {Describe(reader.TokenType)}; features must be numbers.";
            if (features < inputSize && ReadNumber(ref reader, batch, sequence, step, features) is { } error)
                return error;
            features++;
        }
        return features == inputSize
            ? null
            : $"inputs[{sequence}][{step}] has {features} feature{(features == 1 ? "" : "s")}; model '{model}' expects {inputSize}.";
    }

    /// <summary>
    /// One number into the batch. Its place (<paramref name="feature"/> −1 for a bare-number step) is formatted only
    /// for an error: formatting it for every number was most of what a request allocated.
    /// </summary>
    private static string? ReadNumber(ref Utf8JsonReader reader, InputBatch batch, int sequence, int step, int feature)
    {
        if (!reader.TryGetDouble(out double value) || !float.IsFinite((float)value))
        {
            string where = feature < 0 ? $"inputs[{sequence}][{step}]" : $"inputs[{sequence}][{step}][{feature}]";
            return $"{where} is {Encoding.UTF8.GetString(reader.ValueSpan)}, not a finite float32 number.";
        }
        batch.AddValue((float)value);
        return null;
    }

    /// <summary>
    /// ValueTextEquals unescapes the name before comparing and throws InvalidOperationException on an escaped lone
    /// surrogate (<c>"\ud800"</c>); such a name is not 'inputs'.
    /// </summary>
    private static bool IsInputsProperty(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.ValueTextEquals(InputsProperty);
        }
        catch (InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>
    /// The current property name for an error message. The reader checks JSON syntax but decodes a name only when
    /// asked, and GetString throws InvalidOperationException on invalid UTF-8 or an escaped lone surrogate; such a name
    /// is shown with replacement characters instead, so the request gets its 400 rather than a 500.
    /// </summary>
    private static string PropertyName(ref Utf8JsonReader reader)
    {
        try
        {
            return reader.GetString() ?? "";
        }
        catch (InvalidOperationException)
        {
            return Encoding.UTF8.GetString(reader.ValueSpan);
        }
    }

    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => "object",
        JsonTokenType.StartArray => "array",
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };
}
