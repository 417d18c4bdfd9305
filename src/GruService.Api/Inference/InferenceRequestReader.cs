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
    /// <remarks>
    /// Nearly every request is compact, canonical JSON, which <see cref="CanonicalReader"/> reads several times faster
    /// than <see cref="Utf8JsonReader"/> and <c>TryGetDouble</c> do. It only ever succeeds: on anything else (an error,
    /// a limit, an exponent, an escaped name) the batch is emptied and read again by
    /// <see cref="TryReadWithJsonReader"/>, so the result or the error is always the one that reader gives.
    /// </remarks>
    public static string? TryRead(ReadOnlySpan<byte> json, string model, int inputSize, InferenceOptions limits, InputBatch batch)
    {
        // Only into an empty batch, as every caller passes: then Clear undoes exactly what the common-shape reader added.
        if (batch.ValueCount == 0 && batch.SequenceCount == 0)
        {
            if (CanonicalReader.TryRead(json, inputSize, limits, batch))
                return null;
            batch.Clear();
        }
        return TryReadWithJsonReader(json, model, inputSize, limits, batch);
    }

    /// <summary>
    /// The reader for every body, and the one that words the errors; <see cref="TryRead"/> asks it whenever
    /// <see cref="CanonicalReader"/> declines. Internal so the tests can compare the two.
    /// </summary>
    internal static string? TryReadWithJsonReader(ReadOnlySpan<byte> json, string model, int inputSize, InferenceOptions limits, InputBatch batch)
    {
        if (json.Trim(" \t\r\n"u8).IsEmpty)
            return "The body is empty; send {\"inputs\": [sequence, ...]}.";
        var reader = new Utf8JsonReader(json, new JsonReaderOptions { MaxDepth = 8 });
        try
        {
            if (!reader.Read())
                return "The body is empty; send {\"inputs\": [sequence, ...]}.";
            if (reader.TokenType != JsonTokenType.StartObject)
                return $"The body is {Describe(reader.TokenType)}; send an object: {{\"inputs\": [sequence, ...]}}.";

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
            return $"'inputs' is {Describe(reader.TokenType)}; it must be an array of sequences.";
        int sequence = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (sequence == limits.MaxSequences)
                return $"'inputs' has more than {limits.MaxSequences} sequences, the limit per request (Inference:MaxSequences).";
            if (reader.TokenType != JsonTokenType.StartArray)
                return reader.TokenType == JsonTokenType.Number
                    ? $"inputs[{sequence}] is a number; a sequence is an array of time steps (one sequence of bare numbers is sent as {{\"inputs\": [[1, 2, 3]]}})."
                    : $"inputs[{sequence}] is {Describe(reader.TokenType)}; a sequence is an array of time steps.";
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
            return $"inputs[{sequence}][{step}] is {Describe(reader.TokenType)}; a time step is {(inputSize == 1 ? "a number, or an array of one number" : $"an array of {inputSize} numbers")}.";
        int features = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (reader.TokenType != JsonTokenType.Number)
                return $"inputs[{sequence}][{step}][{features}] is {Describe(reader.TokenType)}; features must be numbers.";
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

    /// <summary>The kind of JSON value with its article, so a detail reads "is an object", "is null".</summary>
    private static string Describe(JsonTokenType token) => token switch
    {
        JsonTokenType.StartObject => "an object",
        JsonTokenType.StartArray => "an array",
        JsonTokenType.String => "a string",
        JsonTokenType.Number => "a number",
        JsonTokenType.True or JsonTokenType.False => "a boolean",
        JsonTokenType.Null => "null",
        _ => token.ToString(),
    };

    /// <summary>
    /// Reads the common shape of a request, and only that: <c>{"inputs": [[step, ...], ...]}</c> with no other property,
    /// no escapes, JSON white space anywhere between tokens, and numbers written <c>-?(0|[1-9][0-9]*)(\.[0-9]+)?</c>.
    /// Everything it accepts, <see cref="TryReadWithJsonReader"/> accepts too, with the same values bit for bit; it
    /// declines anything else, valid or not, and leaves the words of any error to that reader.
    /// </summary>
    internal ref struct CanonicalReader
    {
        /// <summary>
        /// 10^0 … 10^22, every one an exact double (10^22 = 2^22 × 5^22 and 5^22 &lt; 2^53). A mantissa below 2^53 is
        /// exact too, so the one correctly rounded IEEE division m / 10^f gives the double nearest to the decimal m × 10^−f:
        /// the value TryGetDouble gives, as it parses correctly rounded. The float is then that double cast, as before.
        /// An array rather than a span over constant data: unoptimised code (a Debug build) allocates a field handle
        /// each time it makes such a span, which the allocation test then counts.
        /// </summary>
        private static readonly double[] PowersOf10 =
        [
            1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
            1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
        ];

        private const ulong ExactMantissaLimit = 1UL << 53;

        private readonly ReadOnlySpan<byte> _json;
        private int _position;

        private CanonicalReader(ReadOnlySpan<byte> json) => _json = json;

        /// <summary>
        /// True when the whole body was read into <paramref name="batch"/> (which must start empty); false when it is not
        /// in the common shape or breaks a limit, and the batch then holds part of it.
        /// </summary>
        public static bool TryRead(ReadOnlySpan<byte> json, int inputSize, InferenceOptions limits, InputBatch batch)
        {
            // A size below 1 is not a model's; the JSON reader alone decides what such a request means.
            if (inputSize < 1)
                return false;
            var reader = new CanonicalReader(json);
            if (!reader.Skip((byte)'{') || !reader.SkipInputsName() || !reader.Skip((byte)':') || !reader.Skip((byte)'['))
                return false;
            // The limits are checked as the JSON reader checks them, with ==, at the same points; breaking one declines.
            int sequence = 0;
            do
            {
                if (sequence == limits.MaxSequences || !reader.Skip((byte)'['))
                    return false;
                int steps = 0;
                do
                {
                    if (steps == limits.MaxStepsPerSequence || batch.TotalSteps + steps == limits.MaxTotalSteps)
                        return false;
                    if (!reader.TryReadStep(inputSize, batch))
                        return false;
                    steps++;
                }
                while (reader.Skip((byte)','));
                if (!reader.Skip((byte)']'))
                    return false;
                batch.EndSequence(steps);
                sequence++;
            }
            while (reader.Skip((byte)','));
            if (!reader.Skip((byte)']') || !reader.Skip((byte)'}'))
                return false;
            reader.SkipWhiteSpace();
            return reader._position == json.Length;
        }

        /// <summary>An array of exactly input_size numbers, or a bare number when input_size is 1.</summary>
        private bool TryReadStep(int inputSize, InputBatch batch)
        {
            float value;
            if (!Skip((byte)'['))
            {
                if (inputSize != 1 || !TryReadNumber(out value))
                    return false;
                batch.AddValue(value);
                return true;
            }
            for (int feature = 0; feature < inputSize; feature++)
            {
                if (feature > 0 && !Skip((byte)','))
                    return false;
                if (!TryReadNumber(out value))
                    return false;
                batch.AddValue(value);
            }
            return Skip((byte)']');
        }

        /// <summary>
        /// A number in the form <c>-?(0|[1-9][0-9]*)(\.[0-9]+)?</c> whose digits, read as one integer m, stay below 2^53
        /// and have at most 22 after the point. What may follow is up to the caller: only ',', ']', '}' or white space
        /// are accepted there, so "1e3", "01" or "1.5.5" decline as they should.
        /// </summary>
        private bool TryReadNumber(out float value)
        {
            value = 0;
            SkipWhiteSpace();
            ReadOnlySpan<byte> json = _json;
            int i = _position;
            bool negative = (uint)i < (uint)json.Length && json[i] == '-';
            if (negative)
                i++;
            if ((uint)i >= (uint)json.Length || !IsDigit(json[i], out uint digit))
                return false;
            i++;
            ulong mantissa = digit;
            // A leading 0 is the whole integer part; a digit after it is left for the caller to decline.
            if (digit != 0 && !TryReadDigits(json, ref i, ref mantissa))
                return false;
            int fractionDigits = 0;
            if ((uint)i < (uint)json.Length && json[i] == '.')
            {
                int start = ++i;
                // Leading zeros of a fraction ("0.0012") leave the mantissa as it is and only count as digits.
                if (!TryReadDigits(json, ref i, ref mantissa))
                    return false;
                fractionDigits = i - start;
                if (fractionDigits == 0 || fractionDigits >= PowersOf10.Length)
                    return false;
            }
            // mantissa < 2^53 fits a long, whose conversion to double is one instruction where an unsigned one is a branchy
            // sequence (the load test's 2.4 KB body: 10.2–10.4 µs, then 8.7–9.1, the two run in turns in one process).
            double number = (long)mantissa / PowersOf10[fractionDigits];
            // Negated after the division, so "-0" and "-0.0" are −0 as TryGetDouble makes them.
            value = (float)(negative ? -number : number);
            _position = i;
            // Below 2^53 a float cannot overflow; checked anyway as the JSON reader checks it, which words the error.
            return float.IsFinite(value);
        }

        /// <summary>Appends digits to <paramref name="mantissa"/>; false once it reaches 2^53, past which it may not be exact.</summary>
        private static bool TryReadDigits(ReadOnlySpan<byte> json, ref int i, ref ulong mantissa)
        {
            while ((uint)i < (uint)json.Length && IsDigit(json[i], out uint digit))
            {
                // mantissa < 2^53 here, so this cannot wrap.
                mantissa = mantissa * 10 + digit;
                if (mantissa >= ExactMantissaLimit)
                    return false;
                i++;
            }
            return true;
        }

        private static bool IsDigit(byte b, out uint digit)
        {
            digit = (uint)(b - '0');
            return digit <= 9;
        }

        /// <summary>Skips white space, then the byte <paramref name="expected"/> if it comes next.</summary>
        private bool Skip(byte expected)
        {
            SkipWhiteSpace();
            if ((uint)_position < (uint)_json.Length && _json[_position] == expected)
            {
                _position++;
                return true;
            }
            return false;
        }

        /// <summary><c>"inputs"</c> exactly; an escaped spelling of it declines, and the JSON reader unescapes it.</summary>
        private bool SkipInputsName()
        {
            SkipWhiteSpace();
            if (!_json[_position..].StartsWith("\"inputs\""u8))
                return false;
            _position += "\"inputs\""u8.Length;
            return true;
        }

        /// <summary>JSON's white space: space, tab, line feed and carriage return, nothing else.</summary>
        private void SkipWhiteSpace()
        {
            while ((uint)_position < (uint)_json.Length && _json[_position] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r')
                _position++;
        }
    }
}
