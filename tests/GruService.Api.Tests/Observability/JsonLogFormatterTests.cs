using System.Diagnostics;
using System.Globalization;
using GruService.Api.Observability;
using Serilog.Events;
using Serilog.Formatting.Json;
using Serilog.Parsing;

namespace GruService.Api.Tests.Observability;

/// <summary>The service's log formatter against Serilog's JsonFormatter, character for character.</summary>
public class JsonLogFormatterTests
{
    private static readonly DateTimeOffset Time = new(2026, 11, 22, 7, 19, 57, TimeSpan.FromHours(1));

    public static TheoryData<string> EventNames() => [.. Events().Keys];

    [Theory]
    [MemberData(nameof(EventNames))]
    public void Format_WritesWhatSerilogsJsonFormatterWrites(string name)
    {
        // JsonFormatter renders with the current culture; the service runs with invariant globalization.
        CultureInfo culture = CultureInfo.CurrentCulture;
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        try
        {
            Serilog.Events.LogEvent logEvent = Events()[name];
            foreach (bool render in new[] { true, false })
                Assert.Equal(Format(new JsonFormatter(renderMessage: render), logEvent), Format(new JsonLogFormatter(render), logEvent));
        }
        finally
        {
            CultureInfo.CurrentCulture = culture;
        }
    }

    [Fact]
    public void Format_IsOneLinePerEvent_EvenWithLineBreaksInValues()
    {
        string text = Format(new JsonLogFormatter(), Events()["escapes"]);
        Assert.Equal(text.Length - Environment.NewLine.Length, text.IndexOf(Environment.NewLine, StringComparison.Ordinal));
    }

    private static string Format(Serilog.Formatting.ITextFormatter formatter, Serilog.Events.LogEvent logEvent)
    {
        var output = new StringWriter();
        formatter.Format(logEvent, output);
        return output.ToString();
    }

    private static Dictionary<string, Serilog.Events.LogEvent> Events()
    {
        var parser = new MessageTemplateParser();
        Exception exception;
        try { throw new InvalidOperationException("broken \"pipe\"\nsecond line"); }
        catch (InvalidOperationException e) { exception = e; }
        var request = new LogEventProperty[]
        {
            new("Method", new ScalarValue("POST")), new("Path", new ScalarValue("/v1/models/load-test/forecast")),
            new("StatusCode", new ScalarValue(200)), new("ElapsedMs", new ScalarValue(2.973)),
            new("EventId", new StructureValue([new("Id", new ScalarValue(1330097018)), new("Name", new ScalarValue("LogRequest"))])),
        };
        return new()
        {
            ["request"] = new(Time, LogEventLevel.Information, null,
                parser.Parse("HTTP {Method} {Path} responded {StatusCode} in {ElapsedMs} ms"), request,
                ActivityTraceId.CreateFromString("1dca4b514eb95f534e892fc10014aff3"), ActivitySpanId.CreateFromString("1097fe822be596b0")),
            ["no properties"] = new(Time, LogEventLevel.Warning, null, parser.Parse("Nothing to say"), []),
            ["exception"] = new(Time, LogEventLevel.Error, exception, parser.Parse("Failed on {Name}"), [new("Name", new ScalarValue("a"))]),
            ["escapes"] = new(Time, LogEventLevel.Debug, null, parser.Parse("Text \"{Text}\" \\ {Other}"),
                [new("Text", new ScalarValue("quote \" backslash \\ newline \n return \r tab \t feed \f bell \u0007 nul \0 unit \u001f é 日本 \U0001F600")),
                 new("Other", new ScalarValue("plain"))]),
            ["scalars"] = new(Time, LogEventLevel.Verbose, null, parser.Parse("{A} {B} {C} {D} {E} {F} {G} {H} {I} {J} {K} {L} {M}"),
                [new("A", new ScalarValue(-7)), new("B", new ScalarValue(long.MaxValue)), new("C", new ScalarValue(1e-300)),
                 new("D", new ScalarValue(double.NaN)), new("E", new ScalarValue(double.NegativeInfinity)), new("F", new ScalarValue(0.1f)),
                 new("G", new ScalarValue(12.5m)), new("H", new ScalarValue(true)), new("I", new ScalarValue(null)),
                 new("J", new ScalarValue(new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc))), new("K", new ScalarValue(Guid.Empty)),
                 new("L", new ScalarValue('"')), new("M", new ScalarValue(TimeSpan.FromSeconds(90)))]),
            ["structures"] = new(Time, LogEventLevel.Fatal, null, parser.Parse("{@Shape} {Items} {Map}"),
                [new("Shape", new StructureValue([new("Width", new ScalarValue(3))], "Box")),
                 new("Items", new SequenceValue([new ScalarValue(1), new ScalarValue("two"), new SequenceValue([]),
                     new StructureValue([], "Empty"), new StructureValue([new("Nested", new StructureValue([new("X", new ScalarValue(-0.5))]))])])),
                 new("Map", new DictionaryValue([new(new ScalarValue("k\"ey"), new ScalarValue(1.5))]))]),
            ["formats"] = new(Time, LogEventLevel.Information, null, parser.Parse("{Elapsed:0.00} ms, {Elapsed:0} again, {Count:x} {Plain} {Count:D5}"),
                [new("Elapsed", new ScalarValue(2.973)), new("Count", new ScalarValue(255)), new("Plain", new ScalarValue("p"))]),
            ["missing property"] = new(Time, LogEventLevel.Information, null, parser.Parse("{Absent:0.0} and {Present}"),
                [new("Present", new ScalarValue(1))]),
        };
    }
}
