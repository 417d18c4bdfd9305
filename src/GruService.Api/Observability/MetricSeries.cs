namespace GruService.Api.Observability;

/// <summary>
/// The aggregated value of one instrument for one label set. Updated concurrently by the threads
/// that record measurements while scrapes read it.
/// </summary>
internal sealed class MetricSeries
{
    private double _value;

    // Histogram state. One lock per series keeps buckets, sum and count consistent with each other in a
    // scrape; it is only contended by measurements of the same label set.
    private readonly Lock _histogramLock = new();
    private readonly long[] _bucketCounts;
    private double _sum;
    private long _count;

    /// <param name="labels">The label set as rendered by <see cref="PrometheusTextWriter.RenderLabels"/>.</param>
    /// <param name="bucketCount">For histograms, the number of boundaries plus one for values above the last; else 0.</param>
    public MetricSeries(string labels, int bucketCount)
    {
        Labels = labels;
        _bucketCounts = new long[bucketCount];
    }

    public string Labels { get; }

    public double Value => Volatile.Read(ref _value);

    public void Add(double delta)
    {
        double current = Volatile.Read(ref _value);
        while (true)
        {
            double seen = Interlocked.CompareExchange(ref _value, current + delta, current);
            // Compared as bits: NaN != NaN would otherwise loop forever once the value is NaN.
            if (BitConverter.DoubleToInt64Bits(seen) == BitConverter.DoubleToInt64Bits(current))
                return;
            current = seen;
        }
    }

    /// <summary>For observable instruments: the observation round that last reported this series.</summary>
    public long Observation => Volatile.Read(ref _observation);

    private long _observation;

    public void Set(double value, long observation)
    {
        Volatile.Write(ref _value, value);
        Volatile.Write(ref _observation, observation);
    }

    public void Observe(int bucket, double value)
    {
        lock (_histogramLock)
        {
            _bucketCounts[bucket]++;
            _sum += value;
            _count++;
        }
    }

    /// <summary>Per-bucket (not cumulative) counts, the sum and the count, taken together.</summary>
    public (long[] BucketCounts, double Sum, long Count) HistogramSnapshot()
    {
        lock (_histogramLock)
            return ([.. _bucketCounts], _sum, _count);
    }
}
