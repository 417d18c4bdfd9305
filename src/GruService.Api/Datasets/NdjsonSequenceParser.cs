using System.Text.Json;

namespace GruService.Api.Datasets;

/// <summary>
/// Reads an NDJSON upload of labelled sequences as a stream, one line at a time, writing each sequence's values
/// straight to the dataset's values file; only the current line and the label counts are held in memory.
/// <list type="bullet">
/// <item>Each non-blank line is one JSON object with exactly the keys "sequence" and "label"; blank lines are skipped.</item>
/// <item>"sequence" is a non-empty array of time steps, each an array of numbers, or a bare number for a one-feature
/// step. Every step of every line has the width of the first step of the file.</item>
/// <item>Numbers must be finite in float32 (JSON has no NaN; values beyond ±3.4e38 are errors).</item>
/// <item>"label" is a non-empty string, at most 256 characters, or a whole number, stored as its decimal text (ClassLabels).</item>
/// </list>
/// </summary>
internal sealed class NdjsonSequenceParser
{
    private const int MaxLabelChars = 256;

    private readonly BodyLineReader _lines;
    private readonly DatasetOptions _options;
    private int _width;
    private float[] _steps = new float[1024];
    private int _stepValues;
    private long _line;

    private readonly Dictionary<string, int> _labelIndex = new(StringComparer.Ordinal);
    private readonly List<string> _labels = [];
    private readonly List<long> _labelCounts = [];
    private long _sequences;
    private int _minLength = int.MaxValue;
    private int _maxLength;

    private NdjsonSequenceParser(BodyLineReader lines, DatasetOptions options)
    {
        _lines = lines;
        _options = options;
    }

    /// <exception cref="DatasetFormatException">The data is not valid; the message names the line (and the step and feature).</exception>
    public static Task<ParsedDataset> ParseAsync(BodyLineReader lines, IDatasetUpload upload, DatasetOptions options, CancellationToken cancellationToken) =>
        new NdjsonSequenceParser(lines, options).ParseAsync(upload, cancellationToken);

    private async Task<ParsedDataset> ParseAsync(IDatasetUpload upload, CancellationToken cancellationToken)
    {
        await using (var values = new LittleEndianWriter(upload.CreateFile(DatasetFiles.Values)))
        await using (var index = new LittleEndianWriter(upload.CreateFile(DatasetFiles.SequenceIndex)))
        {
            while (await _lines.ReadLineAsync(cancellationToken))
            {
                if (_lines.Current.Span.Trim(" \t"u8).IsEmpty) continue;
                _line = _lines.LineNumber;
                (int length, int label) = ReadLine(_lines.Current.Span);
                await values.WriteAsync(_steps.AsMemory(0, _stepValues), cancellationToken);
                await index.WriteAsync(length, cancellationToken);
                await index.WriteAsync(label, cancellationToken);
            }
            if (_sequences == 0)
                throw new DatasetFormatException("The body holds no sequences: each line is one JSON object, {\"sequence\": [[...], ...], \"label\": \"...\"}.");
            await values.CompleteAsync(cancellationToken);
            await index.CompleteAsync(cancellationToken);
        }

        await using (Stream labels = upload.CreateFile(DatasetFiles.Labels))
        {
            await using (var writer = new Utf8JsonWriter(labels))
            {
                writer.WriteStartArray();
                foreach (string label in _labels) writer.WriteStringValue(label);
                writer.WriteEndArray();
            }
            await labels.FlushAsync(cancellationToken);
            if (labels is FileStream file) file.Flush(flushToDisk: true);
        }

        var summary = new DatasetSummary(
            LabelCounts: _labels.Select((label, i) => (label, count: _labelCounts[i])).ToDictionary(p => p.label, p => p.count, StringComparer.Ordinal),
            MinLength: _minLength,
            MaxLength: _maxLength);
        return new ParsedDataset(DatasetRecord.NdjsonFormat, DatasetRecord.SequencesKind, _sequences,
            [.. Enumerable.Range(0, _width).Select(i => $"x{i}")], summary);
    }

    /// <summary>Parses one line into <see cref="_steps"/>.</summary>
    /// <returns>The sequence's length and its label's index.</returns>
    private (int Length, int Label) ReadLine(ReadOnlySpan<byte> line)
    {
        var reader = new Utf8JsonReader(line);
        int? length = null;
        string? label = null;
        try
        {
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
                throw Error($"the line is {Describe(reader.TokenType)}, not an object; each line is {{\"sequence\": [[...], ...], \"label\": \"...\"}}.");
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                if (reader.ValueTextEquals("sequence"u8))
                {
                    if (length is not null) throw Error("\"sequence\" appears twice.");
                    length = ReadSequence(ref reader);
                }
                else if (reader.ValueTextEquals("label"u8))
                {
                    if (label is not null) throw Error("\"label\" appears twice.");
                    reader.Read();
                    if (reader.TokenType is not (JsonTokenType.String or JsonTokenType.Number))
                        throw Error($"\"label\" is {Describe(reader.TokenType)}; " + reader.TokenType switch
                        {
                            // A null label is usually an unlabelled row that a DataFrame export kept: the fix is to drop or label it.
                            JsonTokenType.Null => "every line needs a label, a non-empty string or a whole number (drop unlabelled sequences or give them one).",
                            _ => "it must be a string, such as \"walking\", or a whole number, such as 3.",
                        });
                    label = reader.TokenType == JsonTokenType.String ? reader.GetString()!
                        : ClassLabels.FromNumber(reader.ValueSpan) ?? throw Error(
                            $"\"label\" is the number {DatasetFormatException.Quote(reader.ValueSpan)}; a number label must be a whole number, such as 3 (class indices), or write it as a string.");
                    if (string.IsNullOrWhiteSpace(label)) throw Error("\"label\" is empty.");
                    if (label.Length > MaxLabelChars) throw Error($"\"label\" is {label.Length} characters long; at most {MaxLabelChars} are allowed.");
                }
                else
                {
                    throw Error($"unknown key {DatasetFormatException.Quote(reader.ValueSpan)}; a line holds only \"sequence\" and \"label\".");
                }
            }
            // Anything after the object (a second value on the line) makes the reader throw.
            reader.Read();
        }
        catch (JsonException e)
        {
            string message = e.Message;
            int position = message.IndexOf(" LineNumber:", StringComparison.Ordinal);
            throw Error($"the line is not valid JSON (at byte {e.BytePositionInLine + 1}): {(position > 0 ? message[..position] : message)}");
        }
        if (length is null) throw Error("\"sequence\" is missing.");
        if (label is null) throw Error("\"label\" is missing.");

        _sequences++;
        _minLength = Math.Min(_minLength, length.Value);
        _maxLength = Math.Max(_maxLength, length.Value);
        return (length.Value, CountLabel(label));
    }

    private int ReadSequence(ref Utf8JsonReader reader)
    {
        reader.Read();
        if (reader.TokenType != JsonTokenType.StartArray)
            throw Error($"\"sequence\" is {Describe(reader.TokenType)}; it must be an array of time steps.");
        _stepValues = 0;
        int steps = 0;
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            if (steps == _options.MaxSequenceLength)
                throw Error($"\"sequence\" has more than {_options.MaxSequenceLength} time steps (Datasets:MaxSequenceLength).");
            if (reader.TokenType == JsonTokenType.Number)
            {
                Add(ReadNumber(ref reader, steps, feature: null));
                CheckWidth(steps, 1);
            }
            else if (reader.TokenType == JsonTokenType.StartArray)
            {
                int features = 0;
                int most = _width > 0 ? _width : _options.MaxFeatures;
                while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
                {
                    if (features == most)
                        throw Error(_width > 0
                            ? $"sequence[{steps}] has more than {_width} feature{(_width == 1 ? "" : "s")}; earlier time steps have {_width}."
                            : $"sequence[{steps}] has more than {_options.MaxFeatures} feature{(_options.MaxFeatures == 1 ? "" : "s")} (Datasets:MaxFeatures).");
                    Add(ReadNumber(ref reader, steps, features));
                    features++;
                }
                if (features == 0) throw Error($"sequence[{steps}] is an empty time step.");
                CheckWidth(steps, features);
            }
            else
            {
                throw Error($"sequence[{steps}] is {Describe(reader.TokenType)}; a time step is an array of numbers, or a bare number for one feature.");
            }
            steps++;
        }
        if (steps == 0) throw Error("\"sequence\" is empty; it needs at least one time step.");
        return steps;
    }

    private float ReadNumber(ref Utf8JsonReader reader, int step, int? feature)
    {
        string path = feature is null ? $"sequence[{step}]" : $"sequence[{step}][{feature}]";
        if (reader.TokenType != JsonTokenType.Number)
            throw Error($"{path} is {Describe(reader.TokenType)}, not a number.");
        if (!reader.TryGetSingle(out float value) || !float.IsFinite(value))
            throw Error($"{path} = {DatasetFormatException.Quote(reader.ValueSpan)} is beyond the float32 range (±3.4e38).");
        return value;
    }

    private void Add(float value)
    {
        if (_stepValues == _steps.Length) Array.Resize(ref _steps, 2 * _steps.Length);
        _steps[_stepValues++] = value;
    }

    private void CheckWidth(int step, int features)
    {
        if (_width == 0) _width = features;
        else if (features != _width)
            throw Error($"sequence[{step}] has {features} feature{(features == 1 ? "" : "s")}; earlier time steps have {_width}.");
    }

    private int CountLabel(string label)
    {
        if (_labelIndex.TryGetValue(label, out int index))
        {
            _labelCounts[index]++;
            return index;
        }
        if (_labels.Count == _options.MaxLabels)
            throw Error($"label \"{label}\" is one more than the limit of {_options.MaxLabels} distinct labels (Datasets:MaxLabels).");
        index = _labels.Count;
        _labelIndex.Add(label, index);
        _labels.Add(label);
        _labelCounts.Add(1);
        return index;
    }

    private DatasetFormatException Error(string problem) => new($"Line {_line}: {problem}");

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
}
