using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text;

namespace GruService.Api.Datasets;

/// <summary>
/// Reads a CSV time-series upload as a stream, one record at a time, writing each row's features straight to the
/// dataset's values file; only the current record and the per-series summary are held in memory, and while the
/// column types are being decided, the rows looked ahead at (bounded by <see cref="TypingRows"/> and by
/// Datasets:MaxLineBytes in all).
/// <list type="bullet">
/// <item>Syntax: RFC 4180. Fields are separated by commas; a field in double quotes may hold commas, line breaks and
/// doubled quotes (""). Lines end in LF or CRLF; a UTF-8 byte order mark is skipped; blank lines are skipped anywhere.</item>
/// <item>The first record is the header. Names are trimmed, must be non-empty and unique ignoring case, and not all
/// numbers or dates (which would be a file without a header row, whose first row would be lost).</item>
/// <item>Column roles: the column the upload names as the series id (<see cref="CsvColumnRoles.Series"/>), or else one
/// named "series" (any case), holds the series id; the column it names as the time index (<see cref="CsvColumnRoles.Time"/>),
/// or else the first column named "date", "time" or "timestamp" (any case), is the time index. Every other column is typed by its first value that is not a
/// missing-value marker (an empty cell, NA, N/A, #N/A, NaN, null, None or &lt;NA&gt;, in any case), looking at most
/// <see cref="TypingRows"/> rows ahead: a number makes it a feature, text makes it a text column. When no column is
/// named for the time index, it is the first text column whose first value is an ISO 8601 date or time (see Time
/// order), or else the first text column; further text columns are ignored and listed in the summary. A column with nothing but missing-value markers in the rows looked at is an error, since its type
/// cannot be decided.</item>
/// <item>Every feature value must be a finite float32 number in every row: a missing-value marker, inf or an
/// out-of-range value is an error naming the row and column. Missing values are not filled in, since how to fill
/// them (interpolate, carry forward, drop the rows) depends on the data and is the uploader's choice.</item>
/// <item>Series may be interleaved: each series keeps its rows in file order, and series are listed in order of first appearance.</item>
/// <item>Time order: when row 1's time value is an ISO 8601 date or date and time (yyyy-MM, yyyy-MM-dd, then
/// optionally T or a space, HH:mm, :ss, a fraction and Z or an offset) or a number, every row's time value must be
/// one too, and each series' times must increase: a time before or equal to the series' previous one is an error
/// naming both rows and values. Dates without a time of day may repeat, since sub-daily data often keeps the hour in
/// a column of its own (date, hour, ...). Times without an offset are compared as written, with those with one in
/// UTC. Any other time column (d/m/y dates, month names, labels) is left unchecked: its order cannot be read reliably.</item>
/// </list>
/// </summary>
internal sealed class CsvTimeSeriesParser
{
    // Series ids are kept in memory and in the record, so they are bounded; time values are only shown in the summary, so they are cut.
    private const int MaxSeriesNameChars = 256;
    private const int MaxTimeBytes = 256;

    /// <summary>
    /// Most data rows read ahead to find each column's first value that is not missing. Rows are held until every
    /// column is typed (usually after row 1), so the bound keeps the memory small; a column still without a value by
    /// then could only be a feature full of missing values, which is refused anyway, or a mostly empty text column.
    /// </summary>
    internal const int TypingRows = 100;

    private readonly BodyLineReader _lines;
    private readonly DatasetOptions _options;
    private readonly CsvColumnRoles _roles;

    // The current record: one line, or several joined in _joined when a quoted field holds a line break.
    private ReadOnlyMemory<byte> _record;
    private long _recordLine;
    private byte[] _joined = [];
    private int _joinedLength;

    // The current record's fields without their quotes, as [start, end) ranges of _fieldBytes.
    private byte[] _fieldBytes = [];
    private int[] _fieldStarts = new int[16];
    private int[] _fieldEnds = new int[16];

    private string[] _columns = [];
    private int _seriesColumn = -1;
    private int _timeColumn = -1;
    // Null until the columns are typed; then the feature columns in file order.
    private int[]? _featureColumns;
    // Per column, the first value that is not missing and where it was, once found: what typed the column.
    private TypingValue?[] _typedBy = [];
    private readonly List<string> _ignoredColumns = [];
    private float[] _row = [];

    private readonly Dictionary<string, SeriesBuilder> _seriesByName = new(StringComparer.Ordinal);
    private readonly List<SeriesBuilder> _series = [];
    private SeriesBuilder? _current;
    private TimeOrder _timeOrder;
    private string _firstTime = "";
    private long _rows;

    private CsvTimeSeriesParser(BodyLineReader lines, DatasetOptions options, CsvColumnRoles roles)
    {
        _lines = lines;
        _options = options;
        _roles = roles;
    }

    /// <exception cref="DatasetFormatException">The data is not a valid time-series CSV file; the message names the line, row and column.</exception>
    public static Task<ParsedDataset> ParseAsync(BodyLineReader lines, IDatasetUpload upload, DatasetOptions options, CsvColumnRoles roles, CancellationToken cancellationToken) =>
        new CsvTimeSeriesParser(lines, options, roles).ParseAsync(upload, cancellationToken);

    private async Task<ParsedDataset> ParseAsync(IDatasetUpload upload, CancellationToken cancellationToken)
    {
        if (!await ReadRecordAsync(cancellationToken))
            throw new DatasetFormatException("The body is empty: a CSV dataset starts with a header row naming its columns.");
        ReadHeader();

        await using var values = new LittleEndianWriter(upload.CreateFile(DatasetFiles.Values));
        await using LittleEndianWriter? seriesIndex = _seriesColumn >= 0 ? new LittleEndianWriter(upload.CreateFile(DatasetFiles.SeriesIndex)) : null;
        async ValueTask WriteRowAsync()
        {
            ReadRow();
            await values.WriteAsync(_row, cancellationToken);
            if (seriesIndex is not null) await seriesIndex.WriteAsync(_current!.Index, cancellationToken);
        }

        // Rows read before the columns are typed, copied, since the line reader reuses its buffer.
        var lookahead = new List<(byte[] Record, long Line)>();
        long lookaheadBytes = 0;
        while (await ReadRecordAsync(cancellationToken))
        {
            _rows++;
            SplitRow();
            if (_featureColumns is not null)
            {
                await WriteRowAsync();
                continue;
            }
            lookahead.Add((_record.ToArray(), _recordLine));
            lookaheadBytes += _record.Length;
            bool typed = NoteFirstValues();
            if (typed || lookahead.Count == TypingRows || lookaheadBytes >= _options.MaxLineBytes)
            {
                TypeColumns(endOfBody: false, lookahead.Count);
                await ReplayAsync(lookahead, WriteRowAsync);
            }
        }
        if (_rows == 0)
            throw new DatasetFormatException($"The CSV file has a header (line {_recordLine}) but no data rows.");
        if (_featureColumns is null)
        {
            TypeColumns(endOfBody: true, lookahead.Count);
            await ReplayAsync(lookahead, WriteRowAsync);
        }
        await values.CompleteAsync(cancellationToken);
        if (seriesIndex is not null) await seriesIndex.CompleteAsync(cancellationToken);

        var summary = new DatasetSummary(
            Series: [.. _series.Select(s => s.ToSummary())],
            TimeColumn: _timeColumn >= 0 ? _columns[_timeColumn] : null,
            IgnoredColumns: _ignoredColumns,
            SeriesColumn: _seriesColumn >= 0 ? _columns[_seriesColumn] : null);
        return new ParsedDataset(DatasetRecord.CsvFormat, DatasetRecord.TimeSeriesKind, _rows, [.. _featureColumns.Select(i => _columns[i])], summary);
    }

    /// <summary>The next non-blank record into <see cref="_record"/>; false at the end of the body.</summary>
    private async ValueTask<bool> ReadRecordAsync(CancellationToken cancellationToken)
    {
        do
        {
            if (!await _lines.ReadLineAsync(cancellationToken)) return false;
        } while (_lines.Current.IsEmpty);
        _recordLine = _lines.LineNumber;
        _record = _lines.Current;
        int quotes = _record.Span.Count((byte)'"');
        if (quotes % 2 == 0) return true;

        // An odd number of quotes: a quoted field holds a line break, so the record goes on over the next lines.
        _joinedLength = 0;
        Join(_record, lineBreak: false);
        while (quotes % 2 != 0)
        {
            if (!await _lines.ReadLineAsync(cancellationToken))
                throw new DatasetFormatException($"Line {_recordLine}: a quoted field is not closed before the end of the file.");
            Join(_lines.Current, lineBreak: true);
            quotes += _lines.Current.Span.Count((byte)'"');
        }
        _record = _joined.AsMemory(0, _joinedLength);
        return true;
    }

    private void Join(ReadOnlyMemory<byte> line, bool lineBreak)
    {
        int length = _joinedLength + (lineBreak ? 1 : 0) + line.Length;
        if (length > _options.MaxLineBytes)
            throw new DatasetFormatException(
                $"The record starting on line {_recordLine} is longer than the limit of {_options.MaxLineBytes} bytes (Datasets:MaxLineBytes); is a closing quote missing?");
        if (_joined.Length < length) Array.Resize(ref _joined, Math.Max(length, 2 * _joined.Length));
        if (lineBreak) _joined[_joinedLength++] = (byte)'\n';
        line.Span.CopyTo(_joined.AsSpan(_joinedLength));
        _joinedLength += line.Length;
    }

    /// <summary>Splits the current record into fields (RFC 4180), stopping after <paramref name="maxFields"/> + 1 of them.</summary>
    /// <returns>The number of fields, at most <paramref name="maxFields"/> + 1.</returns>
    private int Split(int maxFields)
    {
        ReadOnlySpan<byte> record = _record.Span;
        if (_fieldBytes.Length < record.Length) _fieldBytes = new byte[Math.Max(record.Length, 2 * _fieldBytes.Length)];
        int count = 0, written = 0, i = 0;
        while (true)
        {
            if (count == _fieldStarts.Length)
            {
                Array.Resize(ref _fieldStarts, 2 * count);
                Array.Resize(ref _fieldEnds, 2 * count);
            }
            int start = written;
            if (i < record.Length && record[i] == (byte)'"')
            {
                i++;
                while (true)
                {
                    if (i >= record.Length)
                        throw new DatasetFormatException($"Line {_recordLine}: the quoted field {count + 1} is not closed.");
                    byte b = record[i++];
                    if (b != (byte)'"') _fieldBytes[written++] = b;
                    else if (i < record.Length && record[i] == (byte)'"') _fieldBytes[written++] = record[i++];
                    else break;
                }
                if (i < record.Length && record[i] != (byte)',')
                    throw new DatasetFormatException(
                        $"Line {_recordLine}: field {count + 1} has text after its closing quote; a quote inside a quoted field is written twice (\"\").");
            }
            else
            {
                int comma = record[i..].IndexOf((byte)',');
                int end = comma < 0 ? record.Length : i + comma;
                record[i..end].CopyTo(_fieldBytes.AsSpan(written));
                written += end - i;
                i = end;
            }
            _fieldStarts[count] = start;
            _fieldEnds[count] = written;
            count++;
            if (i >= record.Length || count > maxFields) return count;
            i++; // past the comma; a comma ending the record leaves one more, empty, field
        }
    }

    /// <summary>Reads the held rows again, now that the columns are typed, as if they were just arriving.</summary>
    private async ValueTask ReplayAsync(List<(byte[] Record, long Line)> lookahead, Func<ValueTask> writeRow)
    {
        long rows = _rows;
        for (int i = 0; i < lookahead.Count; i++)
        {
            _record = lookahead[i].Record;
            _recordLine = lookahead[i].Line;
            _rows = i + 1;
            SplitRow();
            await writeRow();
        }
        _rows = rows;
        lookahead.Clear();
    }

    private ReadOnlySpan<byte> Field(int column) => _fieldBytes.AsSpan(_fieldStarts[column], _fieldEnds[column] - _fieldStarts[column]);

    private ReadOnlySpan<byte> TrimmedField(int column) => Field(column).Trim(" \t"u8);

    private void ReadHeader()
    {
        int count = Split(_options.MaxColumns);
        if (count > _options.MaxColumns)
            throw new DatasetFormatException($"The header (line {_recordLine}) has more than {_options.MaxColumns} columns (Datasets:MaxColumns).");
        _columns = new string[count];
        var seen = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        for (int i = 0; i < count; i++)
        {
            string name = Encoding.UTF8.GetString(Field(i)).Trim();
            if (name.Length == 0)
                throw new DatasetFormatException(
                    $"Column {i + 1} of the header (line {_recordLine}) has no name; every column needs one (from pandas, write the file with to_csv(index=False)).");
            if (!seen.TryAdd(name, i))
                throw new DatasetFormatException(
                    $"The header (line {_recordLine}) names column '{name}' twice (columns {seen[name] + 1} and {i + 1}); column names must be unique, ignoring case.");
            _columns[i] = name;
        }
        CheckHeaderIsNotData();
        _seriesColumn = _roles.Series is { } series ? NamedColumn(series, "series")
            : Array.FindIndex(_columns, c => c.Equals("series", StringComparison.OrdinalIgnoreCase));
        _timeColumn = _roles.Time is { } time ? NamedColumn(time, "time")
            : Array.FindIndex(_columns, c => c.ToLowerInvariant() is "date" or "time" or "timestamp" && !c.Equals(_roles.Series, StringComparison.OrdinalIgnoreCase));
        if (_seriesColumn >= 0 && _seriesColumn == _timeColumn)
            throw new DatasetFormatException($"Column '{_columns[_seriesColumn]}' cannot be both the series id and the time index (series and time name the same column).");
    }

    /// <summary>
    /// Refuses a header whose every name is a number or an ISO 8601 date or time: the file has no header row, and
    /// reading its first row as names would silently drop that row and name the features after its values.
    /// </summary>
    private void CheckHeaderIsNotData()
    {
        bool dates = false;
        for (int i = 0; i < _columns.Length; i++)
        {
            ReadOnlySpan<byte> name = TrimmedField(i);
            if (ParseNumber(name, out _) is NumberKind.Finite or NumberKind.NonFinite) continue;
            if (!TryParseTimestamp(name, out _)) return;
            dates = true;
        }
        const int shown = 5;
        string values = string.Join(", ", _columns.Take(shown).Select(c => $"'{c}'")) + (_columns.Length > shown ? ", ..." : "");
        throw new DatasetFormatException(
            $"The header (line {_recordLine}) is {values}: {(dates ? "numbers and dates" : "numbers")}, not column names, so the file seems to have no header row "
            + "(its first row would be lost as the names). Add a first line naming the columns, such as date,load,temp.");
    }

    /// <summary>The column a query parameter names for a role, matched as the header's names are: trimmed, ignoring case.</summary>
    private int NamedColumn(string name, string parameter)
    {
        int column = Array.FindIndex(_columns, c => c.Equals(name.Trim(), StringComparison.OrdinalIgnoreCase));
        if (column >= 0) return column;
        const int shown = 20;
        throw new DatasetFormatException(
            $"{parameter}={name} names no column of the header (line {_recordLine}); its columns are "
            + string.Join(", ", _columns.Take(shown).Select(c => $"'{c}'")) + (_columns.Length > shown ? $" and {_columns.Length - shown} more" : "") + ".");
    }

    private void SplitRow()
    {
        int count = Split(_columns.Length);
        if (count > _columns.Length)
            throw new DatasetFormatException(
                $"Line {_recordLine} (row {_rows}) has more than {_columns.Length} field{(_columns.Length == 1 ? "" : "s")}; the header has {_columns.Length}.{SeparatorHint()}");
        if (count < _columns.Length)
            throw new DatasetFormatException($"Line {_recordLine} (row {_rows}) has {count} field{(count == 1 ? "" : "s")}; the header has {_columns.Length}.");
    }

    /// <summary>
    /// A header of one field holding semicolons or tabs is a file written with another separator (semicolons are
    /// Excel's default where the decimal separator is a comma); says so, as the errors it leads to (rows with too many
    /// fields, or one text column and nothing to train on) do not.
    /// </summary>
    private string SeparatorHint()
    {
        if (_columns.Length != 1) return "";
        (string what, string sep) = _columns[0].Contains(';') ? ("';'", ";") : _columns[0].Contains('\t') ? ("tabs", "\\t") : ("", "");
        return what.Length == 0 ? ""
            : $" The header is one field holding {what}: fields must be separated by commas (convert the file, e.g. with pandas: "
              + $"pd.read_csv(path, sep='{sep}').to_csv(out, index=False), adding decimal=',' to read_csv if numbers are written 1,5).";
    }

    /// <summary>Notes, for each column still untyped, the current row's value unless it is missing; true once every column is typed.</summary>
    private bool NoteFirstValues()
    {
        if (_typedBy.Length == 0) _typedBy = new TypingValue?[_columns.Length];
        bool typed = true;
        for (int column = 0; column < _columns.Length; column++)
        {
            if (column == _seriesColumn || column == _timeColumn || _typedBy[column] is not null) continue;
            ReadOnlySpan<byte> value = TrimmedField(column);
            NumberKind kind = ParseNumber(value, out _);
            if (kind == NumberKind.Missing) typed = false;
            else _typedBy[column] = new TypingValue(kind != NumberKind.Text, kind == NumberKind.Text && TryParseTimestamp(value, out _), _rows, DatasetFormatException.Quote(value));
        }
        return typed;
    }

    /// <summary>
    /// Decides from the first values noted which columns are features, and which text column (if none is named for
    /// it) is the time index.
    /// </summary>
    [MemberNotNull(nameof(_featureColumns))]
    private void TypeColumns(bool endOfBody, int rowsRead)
    {
        if (_timeColumn < 0) _timeColumn = GuessTimeColumn();
        var features = new List<int>();
        for (int column = 0; column < _columns.Length; column++)
        {
            if (column == _seriesColumn || column == _timeColumn) continue;
            if (_typedBy[column] is not { } first)
                throw new DatasetFormatException(
                    $"Column '{_columns[column]}' has no value in {(endOfBody ? $"any of the {rowsRead} data rows" : $"the first {rowsRead} data rows")}, only missing-value markers "
                    + "(empty, NA, NaN, null, ...), so whether it holds numbers or text cannot be decided; fill it in or drop the column.");
            if (first.Numeric) features.Add(column);
            else _ignoredColumns.Add(_columns[column]);
        }
        if (features.Count == 0)
        {
            const int shown = 20;
            string roles = string.Join("; ", _columns.Take(shown).Select((name, column) =>
                column == _seriesColumn ? $"'{name}' is the series id"
                : column == _timeColumn ? $"'{name}' is the time index"
                : $"'{name}' is text ({_typedBy[column]!.Text} in row {_typedBy[column]!.Row})"))
                + (_columns.Length > shown ? $"; and {_columns.Length - shown} more text columns" : "");
            throw new DatasetFormatException($"No column holds numbers, so there is nothing to train on: {roles}. A time-series dataset needs at least one numeric feature column.{SeparatorHint()}");
        }
        if (features.Count > _options.MaxFeatures)
            throw new DatasetFormatException($"The file has {features.Count} numeric feature columns, more than the limit of {_options.MaxFeatures} (Datasets:MaxFeatures).");
        _featureColumns = [.. features];
        _row = new float[features.Count];
    }

    /// <summary>
    /// The time index when no column is named for it: the first text column whose first value is an ISO 8601 date or
    /// time, else the first text column; -1 when there is no text column. A file often starts with a text column of
    /// another role (a site, a sensor id) before its timestamps; taking that one would leave the timestamps unchecked
    /// and, with several series stacked in the file, train on them as one series without a word.
    /// </summary>
    private int GuessTimeColumn()
    {
        int firstText = -1;
        for (int column = 0; column < _columns.Length; column++)
        {
            if (column == _seriesColumn || _typedBy[column] is not { Numeric: false } first) continue;
            if (first.Timestamp) return column;
            if (firstText < 0) firstText = column;
        }
        return firstText;
    }

    private void ReadRow()
    {
        if (_seriesColumn >= 0)
        {
            ReadOnlySpan<byte> id = TrimmedField(_seriesColumn);
            // Rows of one series usually come together: compare bytes with the current series before decoding anything.
            if (_current is null || !id.SequenceEqual(_current.Utf8Name)) _current = FindSeries(id);
        }
        else
        {
            _current ??= AddSeries(null, []);
        }
        _current.Length++;
        if (_timeColumn >= 0)
        {
            ReadOnlySpan<byte> time = TrimmedField(_timeColumn);
            CheckTimeOrder(time);
            _current.SetTime(time);
        }

        int[] features = _featureColumns!;
        for (int feature = 0; feature < features.Length; feature++)
        {
            int column = features[feature];
            ReadOnlySpan<byte> text = TrimmedField(column);
            switch (ParseNumber(text, out float value))
            {
                case NumberKind.Finite:
                    _row[feature] = value;
                    break;
                case NumberKind.Missing:
                    throw RowError(column, $"{(text.IsEmpty ? "the value is empty" : $"{DatasetFormatException.Quote(text)} marks a missing value")}; "
                        + "every row needs a number in each feature column, since missing values cannot be trained on (fill them in or drop those rows before uploading).");
                case NumberKind.NonFinite:
                    throw RowError(column, $"{DatasetFormatException.Quote(text)} is not a finite number; infinities and values beyond the float32 range (±3.4e38) cannot be trained on.");
                default:
                    TypingValue first = _typedBy[column]!;
                    throw RowError(column, $"{DatasetFormatException.Quote(text)} is not a number; the column is a numeric feature (row {first.Row} holds {first.Text}).");
            }
        }
    }

    /// <summary>
    /// Decides on row 1 whether the time index can be ordered, then holds every row to it: its time must parse as
    /// row 1's did and come after the previous time of its series.
    /// </summary>
    private void CheckTimeOrder(ReadOnlySpan<byte> text)
    {
        if (_rows == 1)
        {
            _timeOrder = TryParseTimestamp(text, out _) ? TimeOrder.Timestamps : TryParseNumber(text, out _) ? TimeOrder.Numbers : TimeOrder.Unchecked;
            _firstTime = DatasetFormatException.Quote(text);
        }
        if (_timeOrder == TimeOrder.Unchecked) return;

        TimeKey time;
        if (_timeOrder == TimeOrder.Timestamps && TryParseTimestamp(text, out TimeKey timestamp)) time = timestamp;
        else if (_timeOrder == TimeOrder.Numbers && TryParseNumber(text, out TimeKey number)) time = number;
        else
            throw RowError(_timeColumn, $"{(text.IsEmpty ? "the time value is empty" : $"{DatasetFormatException.Quote(text)} is not {(_timeOrder == TimeOrder.Timestamps ? "an ISO 8601 date or time" : "a number")}")}, "
                + $"as the time index is in row 1 ({_firstTime}); every row needs one, so that the rows' time order can be checked.");

        SeriesBuilder series = _current!;
        if (series.LastTimeKey is { } previous)
        {
            int order = time.CompareTo(previous);
            string ofSeries = series.Name is null ? "" : $" in series {DatasetFormatException.Quote(series.Utf8Name)}";
            if (order < 0)
                throw RowError(_timeColumn, $"the time index goes backwards{ofSeries}: {DatasetFormatException.Quote(text)} comes after {series.LastTimeQuoted} in row {series.LastTimeRow}. "
                    + $"Rows must be in time order (sort the file by time before uploading).{SeveralSeriesHint()}");
            if (order == 0 && !(time.DateOnly && previous.DateOnly))
                throw RowError(_timeColumn, $"the time index repeats{ofSeries}: {DatasetFormatException.Quote(text)} is also the time of row {series.LastTimeRow}. "
                    + $"Each time may appear only once{(series.Name is null ? "" : " per series")}.{SeveralSeriesHint()}");
        }
        series.LastTimeKey = time;
        series.LastTimeRow = _rows;
    }

    /// <summary>
    /// Without a series column, time going back or repeating most often means several series stacked in one file
    /// whose id column is not named "series"; says how to name it.
    /// </summary>
    private string SeveralSeriesHint()
    {
        if (_seriesColumn >= 0) return "";
        string candidates = _ignoredColumns.Count == 0 ? "" : $" (the text column{(_ignoredColumns.Count == 1 ? "" : "s")} {string.Join(", ", _ignoredColumns.Take(5).Select(c => $"'{c}'"))} could be one)";
        return $" If the file holds several series, say which column tells them apart{candidates}: upload with ?series=COLUMN, or name that column 'series'.";
    }

    private enum TimeOrder { Unchecked, Timestamps, Numbers }

    /// <summary>A time value to compare: UTC ticks of a timestamp, or a number (one kind per file).</summary>
    private readonly record struct TimeKey(long Ticks, double Number, bool DateOnly) : IComparable<TimeKey>
    {
        public int CompareTo(TimeKey other) => Ticks != other.Ticks ? Ticks.CompareTo(other.Ticks) : Number.CompareTo(other.Number);
    }

    // ISO 8601 in the forms data files use, with whether they are dates without a time of day. Strict on purpose: a
    // lenient parse would read 01/07/2016 as January in one file and fail on 31/07/2016 in the next, refusing correct
    // files for being out of order.
    private static readonly (string Format, bool DateOnly)[] TimestampFormats =
    [
        ("yyyy-MM", true),
        ("yyyy-MM-dd", true),
        .. from separator in new[] { "'T'", " " }
           from time in new[] { "HH:mm", "HH:mm:ss", "HH:mm:ss.FFFFFFF" }
           from zone in new[] { "", "'Z'", "zzz" }
           select ($"yyyy-MM-dd{separator}{time}{zone}", false),
    ];

    // The format the last timestamp had, tried first: a file keeps to one, so most rows take one parse, not a dozen.
    private int _timestampFormat;

    private bool TryParseTimestamp(ReadOnlySpan<byte> text, out TimeKey time)
    {
        time = default;
        Span<char> chars = stackalloc char[40];
        if (text.Length > chars.Length || !Ascii.IsValid(text)) return false;
        chars = chars[..Encoding.ASCII.GetChars(text, chars)];
        if (TryParseTimestamp(chars, _timestampFormat, out time)) return true;
        for (int format = 0; format < TimestampFormats.Length; format++)
        {
            if (format != _timestampFormat && TryParseTimestamp(chars, format, out time))
            {
                _timestampFormat = format;
                return true;
            }
        }
        return false;
    }

    private static bool TryParseTimestamp(ReadOnlySpan<char> text, int format, out TimeKey time)
    {
        // Times without an offset are taken as UTC, which compares them as written.
        bool parsed = DateTimeOffset.TryParseExact(text, TimestampFormats[format].Format, CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal, out DateTimeOffset value);
        time = new TimeKey(parsed ? value.UtcTicks : 0, 0, TimestampFormats[format].DateOnly);
        return parsed;
    }

    private static bool TryParseNumber(ReadOnlySpan<byte> text, out TimeKey time)
    {
        bool parsed = double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double number) && double.IsFinite(number);
        time = new TimeKey(0, number, DateOnly: false);
        return parsed;
    }

    private SeriesBuilder FindSeries(ReadOnlySpan<byte> id)
    {
        if (id.IsEmpty) throw RowError(_seriesColumn, "the series id is empty; every row needs one.");
        string name = Encoding.UTF8.GetString(id);
        if (_seriesByName.TryGetValue(name, out SeriesBuilder? known)) return known;
        if (name.Length > MaxSeriesNameChars)
            throw RowError(_seriesColumn, $"the series id is {name.Length} characters long; at most {MaxSeriesNameChars} are allowed.");
        if (_series.Count == _options.MaxSeries)
            throw RowError(_seriesColumn, $"series {DatasetFormatException.Quote(id)} is one more than the limit of {_options.MaxSeries} series (Datasets:MaxSeries).");
        return AddSeries(name, id.ToArray());
    }

    private SeriesBuilder AddSeries(string? name, byte[] utf8Name)
    {
        var series = new SeriesBuilder(name, utf8Name, _series.Count);
        _series.Add(series);
        if (name is not null) _seriesByName.Add(name, series);
        return series;
    }

    private DatasetFormatException RowError(int column, string problem) =>
        new($"Row {_rows} (line {_recordLine}), column '{_columns[column]}': {problem}");

    private enum NumberKind { Finite, NonFinite, Missing, Text }

    /// <summary>
    /// The value that typed a column: whether it is a number, whether it is an ISO 8601 date or time, the row it is
    /// in, and itself, quoted for messages.
    /// </summary>
    private sealed record TypingValue(bool Numeric, bool Timestamp, long Row, string Text);

    private static NumberKind ParseNumber(ReadOnlySpan<byte> text, out float value)
    {
        value = 0;
        if (IsMissing(text)) return NumberKind.Missing;
        if (float.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value))
            return float.IsFinite(value) ? NumberKind.Finite : NumberKind.NonFinite;
        // float.TryParse reads "Infinity" but not the "inf" that C, NumPy and pandas write.
        ReadOnlySpan<byte> unsigned = text[0] is (byte)'+' or (byte)'-' ? text[1..] : text;
        return Ascii.EqualsIgnoreCase(unsigned, "inf"u8) ? NumberKind.NonFinite : NumberKind.Text;
    }

    /// <summary>
    /// The markers pandas, R, NumPy, spreadsheets and databases write for a missing value (pandas reads all of them as
    /// NaN). NaN counts as one because that is what it means in exported data, not an arithmetic result.
    /// </summary>
    private static bool IsMissing(ReadOnlySpan<byte> text)
    {
        if (text.IsEmpty) return true;
        ReadOnlySpan<byte> unsigned = text[0] is (byte)'+' or (byte)'-' ? text[1..] : text;
        return Ascii.EqualsIgnoreCase(unsigned, "nan"u8) || Ascii.EqualsIgnoreCase(text, "na"u8) || Ascii.EqualsIgnoreCase(text, "n/a"u8)
            || Ascii.EqualsIgnoreCase(text, "#n/a"u8) || Ascii.EqualsIgnoreCase(text, "null"u8) || Ascii.EqualsIgnoreCase(text, "none"u8)
            || Ascii.EqualsIgnoreCase(text, "<na>"u8);
    }

    private sealed class SeriesBuilder(string? name, byte[] utf8Name, int index)
    {
        private readonly byte[] _lastTime = new byte[MaxTimeBytes];
        private int _lastTimeLength;
        private string? _firstTime;
        private bool _hasTime;

        public string? Name => name;
        public byte[] Utf8Name => utf8Name;
        public int Index => index;
        public long Length { get; set; }

        // The last time of the series, when the time order is checked, and the row it is in.
        public TimeKey? LastTimeKey { get; set; }
        public long LastTimeRow { get; set; }
        public string LastTimeQuoted => DatasetFormatException.Quote(_lastTime.AsSpan(0, _lastTimeLength));

        public void SetTime(ReadOnlySpan<byte> value)
        {
            if (value.Length > MaxTimeBytes) value = value[..MaxTimeBytes];
            if (!_hasTime) _firstTime = Encoding.UTF8.GetString(value);
            _hasTime = true;
            value.CopyTo(_lastTime);
            _lastTimeLength = value.Length;
        }

        public SeriesSummary ToSummary() =>
            new(name, Length, _firstTime, _hasTime ? Encoding.UTF8.GetString(_lastTime, 0, _lastTimeLength) : null);
    }
}

/// <summary>
/// The columns an upload names for the series id and the time index, overriding the names the parser looks for
/// ("series"; "date", "time", "timestamp"); null leaves a role to those names.
/// </summary>
internal readonly record struct CsvColumnRoles(string? Series, string? Time);
