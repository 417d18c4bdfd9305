using System.Diagnostics.Metrics;

namespace GruService.Api.Observability;

/// <summary>One instrument the exporter listens to: its Prometheus name and type, and its series by tag set.</summary>
internal sealed class ExportedInstrument
{
    /// <summary>
    /// OpenTelemetry's default explicit bucket boundaries, used when the instrument gives no advice.
    /// </summary>
    internal static readonly double[] DefaultBoundaries = [0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, 10000];

    /// <summary>
    /// Cap on label sets per instrument, as in OpenTelemetry's default cardinality limit: a tag with unbounded
    /// values must not grow memory and scrape size without end. Further label sets are counted in one
    /// series labelled otel_metric_overflow="true".
    /// </summary>
    internal const int MaxSeries = 2000;

    private static readonly string OverflowLabels = PrometheusTextWriter.RenderLabels([new("otel.metric.overflow", true)]);

    private enum Aggregation
    {
        /// <summary>Measurements are increments (Counter, UpDownCounter).</summary>
        Sum,
        /// <summary>Measurements replace the value: Gauge, and observable instruments, whose callbacks report current values or running totals.</summary>
        LastValue,
        Histogram,
    }

    private readonly Aggregation _aggregation;
    private readonly double[] _boundaries = [];

    // Tag sets seen so far, read without a lock on every measurement; replaced (never mutated) under _seriesLock.
    private SeriesByTags[] _seriesByTags = [];
    private readonly Lock _seriesLock = new();
    // The distinct series sorted by labels; two tag sets can render the same labels (200 and "200") and then share one.
    private readonly List<MetricSeries> _series = [];

    private readonly record struct SeriesByTags(KeyValuePair<string, object?>[] Tags, MetricSeries Series);

    // Observable instruments report what exists now: a label set their callback no longer reports (a deleted model's
    // active version) leaves the output. Each scrape is a new observation round; series stamped with an older one are skipped.
    private readonly bool _observable;
    private long _observation;

    private ExportedInstrument(Instrument instrument, PrometheusType type, Aggregation aggregation)
    {
        _observable = instrument.IsObservable;
        Type = type;
        _aggregation = aggregation;
        Name = PrometheusNaming.MetricName(instrument.Name, instrument.Unit, type);
        Help = string.IsNullOrEmpty(instrument.Description) ? instrument.Name : instrument.Description;
        if (aggregation == Aggregation.Histogram)
            _boundaries = AdvisedBoundaries(instrument) ?? DefaultBoundaries;
    }

    public PrometheusType Type { get; }

    /// <summary>The metric family name.</summary>
    public string Name { get; }

    public string Help { get; }

    /// <summary>Null for instrument kinds this exporter does not know.</summary>
    public static ExportedInstrument? TryCreate(Instrument instrument)
    {
        Type instrumentType = instrument.GetType();
        if (!instrumentType.IsGenericType)
            return null;
        Type kind = instrumentType.GetGenericTypeDefinition();
        if (kind == typeof(Counter<>))
            return new ExportedInstrument(instrument, PrometheusType.Counter, Aggregation.Sum);
        if (kind == typeof(ObservableCounter<>))
            return new ExportedInstrument(instrument, PrometheusType.Counter, Aggregation.LastValue);
        if (kind == typeof(UpDownCounter<>))
            return new ExportedInstrument(instrument, PrometheusType.Gauge, Aggregation.Sum);
        if (kind == typeof(ObservableUpDownCounter<>) || kind == typeof(ObservableGauge<>) || kind == typeof(Gauge<>))
            return new ExportedInstrument(instrument, PrometheusType.Gauge, Aggregation.LastValue);
        if (kind == typeof(Histogram<>))
            return new ExportedInstrument(instrument, PrometheusType.Histogram, Aggregation.Histogram);
        return null;
    }

    public bool HasSeries
    {
        get
        {
            lock (_seriesLock)
                return _observable ? _series.Any(s => s.Observation == Volatile.Read(ref _observation)) : _series.Count > 0;
        }
    }

    public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        switch (_aggregation)
        {
            case Aggregation.Sum:
                SeriesFor(tags).Add(value);
                break;
            case Aggregation.LastValue:
                SeriesFor(tags).Set(value, Volatile.Read(ref _observation));
                break;
            default:
                // One NaN would make the sum NaN for the life of the process.
                if (double.IsNaN(value))
                    return;
                // Prometheus buckets are upper-inclusive: value v counts in the first bucket whose bound is >= v.
                int found = Array.BinarySearch(_boundaries, value);
                SeriesFor(tags).Observe(found >= 0 ? found : ~found, value);
                break;
        }
    }

    /// <summary>Starts a scrape's observation round: only series the callbacks report from now on are written.</summary>
    public void BeginObservation()
    {
        if (_observable)
            Interlocked.Increment(ref _observation);
    }

    public void WriteSeries(PrometheusTextWriter writer)
    {
        MetricSeries[] series;
        lock (_seriesLock)
            series = _observable ? [.. _series.Where(s => s.Observation == Volatile.Read(ref _observation))] : [.. _series];

        foreach (MetricSeries one in series)
        {
            if (Type != PrometheusType.Histogram)
            {
                writer.WriteSample(Name, one.Labels, one.Value);
                continue;
            }
            var (bucketCounts, sum, count) = one.HistogramSnapshot();
            long cumulative = 0;
            for (int i = 0; i < _boundaries.Length; i++)
            {
                cumulative += bucketCounts[i];
                writer.WriteBucket(Name, one.Labels, _boundaries[i], cumulative);
            }
            writer.WriteBucket(Name, one.Labels, double.PositiveInfinity, count);
            writer.WriteSample(Name + "_sum", one.Labels, sum);
            writer.WriteSample(Name + "_count", one.Labels, count);
        }
    }

    private MetricSeries SeriesFor(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        foreach (SeriesByTags known in Volatile.Read(ref _seriesByTags))
        {
            if (SameTags(known.Tags, tags))
                return known.Series;
        }
        return AddSeries(tags);
    }

    private MetricSeries AddSeries(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        lock (_seriesLock)
        {
            SeriesByTags[] seriesByTags = _seriesByTags;
            foreach (SeriesByTags known in seriesByTags)
            {
                if (SameTags(known.Tags, tags))
                    return known.Series;
            }

            bool full = seriesByTags.Length >= MaxSeries;
            MetricSeries series = FindOrInsertSeries(full ? OverflowLabels : PrometheusTextWriter.RenderLabels(tags));
            if (!full)
                Volatile.Write(ref _seriesByTags, [.. seriesByTags, new SeriesByTags(tags.ToArray(), series)]);
            return series;
        }
    }

    private MetricSeries FindOrInsertSeries(string labels)
    {
        int index = _series.BinarySearch(new MetricSeries(labels, 0), SeriesByLabels.Instance);
        if (index >= 0)
            return _series[index];
        var series = new MetricSeries(labels, _aggregation == Aggregation.Histogram ? _boundaries.Length + 1 : 0);
        _series.Insert(~index, series);
        return series;
    }

    /// <summary>The same tags, in any order. Callers usually pass tags in a fixed order, so the same position is tried first.</summary>
    private static bool SameTags(KeyValuePair<string, object?>[] known, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (known.Length != tags.Length)
            return false;
        for (int i = 0; i < tags.Length; i++)
        {
            int match = known[i].Key == tags[i].Key ? i : IndexOfKey(known, tags[i].Key);
            if (match < 0 || !Equals(known[match].Value, tags[i].Value))
                return false;
        }
        return true;
    }

    private static int IndexOfKey(KeyValuePair<string, object?>[] tags, string key)
    {
        for (int i = 0; i < tags.Length; i++)
        {
            if (tags[i].Key == key)
                return i;
        }
        return -1;
    }

    private static double[]? AdvisedBoundaries(Instrument instrument) => instrument switch
    {
        Instrument<double> advised => ToDoubles(advised.Advice?.HistogramBucketBoundaries, b => b),
        Instrument<float> advised => ToDoubles(advised.Advice?.HistogramBucketBoundaries, b => (double)(decimal)b), // 0.1f as 0.1, not 0.10000000149011612
        Instrument<long> advised => ToDoubles(advised.Advice?.HistogramBucketBoundaries, b => b),
        Instrument<int> advised => ToDoubles(advised.Advice?.HistogramBucketBoundaries, b => b),
        Instrument<short> advised => ToDoubles(advised.Advice?.HistogramBucketBoundaries, b => b),
        Instrument<byte> advised => ToDoubles(advised.Advice?.HistogramBucketBoundaries, b => b),
        Instrument<decimal> advised => ToDoubles(advised.Advice?.HistogramBucketBoundaries, b => (double)b),
        _ => null,
    };

    // Sorted and finite whatever the advice says: bucket lookup is a binary search, and +Inf is always written last anyway.
    private static double[]? ToDoubles<T>(IReadOnlyList<T>? boundaries, Func<T, double> toDouble) =>
        boundaries is null ? null : boundaries.Select(toDouble).Where(double.IsFinite).Order().Distinct().ToArray();

    private sealed class SeriesByLabels : IComparer<MetricSeries>
    {
        public static readonly SeriesByLabels Instance = new();

        public int Compare(MetricSeries? x, MetricSeries? y) => string.CompareOrdinal(x?.Labels, y?.Labels);
    }
}
