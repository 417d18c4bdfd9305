using System.Diagnostics.Metrics;
using System.Text;

namespace GruService.Api.Observability;

/// <summary>
/// Listens to the service's meters through a <see cref="MeterListener"/>, aggregates their measurements and
/// renders them in Prometheus text format, named as OpenTelemetry's Prometheus exporter names them.
/// Listens from construction until disposed.
/// </summary>
/// <remarks>
/// Several hosts can share a process (the tests start many), and a MeterListener sees every meter in the
/// process. An instrument is therefore exported only if its meter is static (<see cref="Meter.Scope"/> null,
/// as for System.Runtime) or was created by this host's <see cref="IMeterFactory"/>, as ASP.NET Core's meters
/// are. The service's own meters ("GruService", "GruService.*") must be created through the injected
/// IMeterFactory too, never with <c>new Meter(...)</c>, or every host in the process would export them.
/// </remarks>
public sealed class PrometheusExporter : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    /// <summary>
    /// The meters exported: exact names, or prefixes where the entry ends in '*'.
    /// System.Runtime is the built-in runtime meter (dotnet.gc.*, dotnet.process.*, dotnet.thread_pool.*, ...).
    /// </summary>
    public static readonly IReadOnlyList<string> ExportedMeters =
    [
        "Microsoft.AspNetCore.Hosting",
        "Microsoft.AspNetCore.Server.Kestrel",
        "Microsoft.AspNetCore.Routing",
        "Microsoft.AspNetCore.Diagnostics",
        "System.Runtime",
        "GruService*",
    ];

    private readonly IMeterFactory _meterFactory;
    private readonly IReadOnlyList<string> _exportedMeters;
    private readonly MeterListener _listener;
    private readonly Lock _instrumentsLock = new();
    private readonly Lock _renderLock = new();
    private readonly List<ExportedInstrument> _instruments = [];

    public PrometheusExporter(IMeterFactory meterFactory)
        : this(meterFactory, ExportedMeters)
    {
    }

    /// <param name="meterFactory">This host's factory; meters of other factories are ignored.</param>
    /// <param name="exportedMeters">Meter names, or prefixes ending in '*'.</param>
    internal PrometheusExporter(IMeterFactory meterFactory, IReadOnlyList<string> exportedMeters)
    {
        _meterFactory = meterFactory;
        _exportedMeters = exportedMeters;
        _listener = new MeterListener
        {
            InstrumentPublished = OnInstrumentPublished,
            MeasurementsCompleted = OnMeasurementsCompleted,
        };
        // The state passed to EnableMeasurementEvents is the instrument's ExportedInstrument, so a measurement
        // goes straight to its aggregation without a lookup.
        _listener.SetMeasurementEventCallback<double>(static (_, value, tags, state) => ((ExportedInstrument)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<float>(static (_, value, tags, state) => ((ExportedInstrument)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<long>(static (_, value, tags, state) => ((ExportedInstrument)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<int>(static (_, value, tags, state) => ((ExportedInstrument)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<short>(static (_, value, tags, state) => ((ExportedInstrument)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<byte>(static (_, value, tags, state) => ((ExportedInstrument)state!).Record(value, tags));
        _listener.SetMeasurementEventCallback<decimal>(static (_, value, tags, state) => ((ExportedInstrument)state!).Record((double)value, tags));
        _listener.Start();
    }

    /// <summary>
    /// Reads the observable instruments, then renders every exported metric family that has a series,
    /// sorted by name.
    /// </summary>
    public string Render()
    {
        // One scrape at a time: each is an observation round of the observable instruments.
        lock (_renderLock)
            return RenderLocked();
    }

    private string RenderLocked()
    {
        ExportedInstrument[] instruments;
        lock (_instrumentsLock)
            instruments = [.. _instruments];
        foreach (ExportedInstrument instrument in instruments)
            instrument.BeginObservation();
        _listener.RecordObservableInstruments();

        var output = new StringBuilder();
        var writer = new PrometheusTextWriter(output);
        foreach (var family in instruments.GroupBy(i => i.Name).OrderBy(f => f.Key, StringComparer.Ordinal))
        {
            // Instruments of different meters may map to one name. A family has one type, so those of another
            // type than the first are left out rather than making the whole scrape unparseable.
            PrometheusType type = family.First().Type;
            ExportedInstrument[] members = family.Where(i => i.Type == type && i.HasSeries).ToArray();
            if (members.Length == 0)
                continue;
            writer.WriteFamilyHeader(family.Key, members[0].Help, type);
            foreach (ExportedInstrument member in members)
                member.WriteSeries(writer);
        }
        return output.ToString();
    }

    public void Dispose() => _listener.Dispose();

    private void OnInstrumentPublished(Instrument instrument, MeterListener listener)
    {
        if (!IsExported(instrument.Meter) || ExportedInstrument.TryCreate(instrument) is not { } exported)
            return;
        lock (_instrumentsLock)
            _instruments.Add(exported);
        listener.EnableMeasurementEvents(instrument, exported);
    }

    // Called when the instrument's meter is disposed, or this listener is.
    private void OnMeasurementsCompleted(Instrument instrument, object? state)
    {
        lock (_instrumentsLock)
            _instruments.Remove((ExportedInstrument)state!);
    }

    private bool IsExported(Meter meter)
    {
        if (meter.Scope is not null && !ReferenceEquals(meter.Scope, _meterFactory))
            return false;
        foreach (string exported in _exportedMeters)
        {
            bool matches = exported.EndsWith('*')
                ? meter.Name.StartsWith(exported[..^1], StringComparison.Ordinal)
                : meter.Name == exported;
            if (matches)
                return true;
        }
        return false;
    }
}
