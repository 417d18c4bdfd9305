using System.Diagnostics.Metrics;
using GruService.Api.Observability;
using Microsoft.Extensions.DependencyInjection;

namespace GruService.Api.Tests.Observability;

/// <summary>
/// The exporter against private meters. Each test has its own <see cref="IMeterFactory"/>, so tests running in
/// parallel, and their exporters, never see each other's instruments.
/// </summary>
public sealed class PrometheusExporterTests : IDisposable
{
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly IMeterFactory _meterFactory;
    private readonly Meter _meter;
    private readonly PrometheusExporter _exporter;

    public PrometheusExporterTests()
    {
        _meterFactory = _services.GetRequiredService<IMeterFactory>();
        _meter = _meterFactory.Create("GruService.Tests");
        // Only our meters: the static System.Runtime meter would make exact comparisons depend on the runtime.
        _exporter = new PrometheusExporter(_meterFactory, ["GruService*"]);
    }

    public void Dispose()
    {
        _exporter.Dispose();
        _services.Dispose();
    }

    [Fact]
    public void Render_NamesCountersWithTotalSuffix()
    {
        _meter.CreateCounter<long>("gru.inference.requests", "{request}", "Inference requests served.").Add(3);
        _meter.CreateCounter<double>("gru.model.load.time", "s").Add(0.25);
        _meter.CreateCounter<int>("gru.retries.total").Add(1);

        string text = _exporter.Render();

        Assert.Contains("# HELP gru_inference_requests_total Inference requests served.\n# TYPE gru_inference_requests_total counter\ngru_inference_requests_total 3\n", text);
        Assert.Contains("# TYPE gru_model_load_time_seconds_total counter\ngru_model_load_time_seconds_total 0.25\n", text);
        Assert.Contains("gru_retries_total 1\n", text);
        Assert.DoesNotContain("_total_total", text);
    }

    [Theory]
    [InlineData("gru.latency", "s", "gru_latency_seconds")]
    [InlineData("gru.latency", "ms", "gru_latency_milliseconds")]
    [InlineData("gru.payload", "By", "gru_payload_bytes")]
    [InlineData("gru.throughput", "By/s", "gru_throughput_bytes_per_second")]
    [InlineData("gru.queue", "{request}", "gru_queue")]
    [InlineData("gru.wait.seconds", "s", "gru_wait_seconds")]
    [InlineData("gru.cache.hit", "1", "gru_cache_hit_ratio")]
    [InlineData("gru..odd-name/x", "", "gru_odd_name_x")]
    [InlineData("dotnet.assembly.count", "{assembly}", "dotnet_assembly_count_value")]
    [InlineData("gru.weights.sum", "", "gru_weights_sum_value")]
    public void Render_AppendsUnitSuffixToGauges(string instrumentName, string unit, string expectedName)
    {
        _meter.CreateObservableGauge(instrumentName, () => 1.5, unit);

        string text = _exporter.Render();

        Assert.Contains($"# TYPE {expectedName} gauge\n{expectedName} 1.5\n", text);
    }

    [Fact]
    public void Render_AddsRatioForUnitOneOnlyToGauges()
    {
        _meter.CreateCounter<long>("gru.rejected", "1").Add(1);
        _meter.CreateHistogram<double>("gru.fill", "1").Record(0.5);

        string text = _exporter.Render();

        Assert.Contains("gru_rejected_total 1\n", text);
        Assert.Contains("gru_fill_count 1\n", text);
        Assert.DoesNotContain("ratio", text);
    }

    [Fact]
    public void Render_NamesHistogramsLikeOpenTelemetry_WithAdvisedBoundaries()
    {
        var duration = _meter.CreateHistogram<double>(
            "gru.inference.duration", "s", "Time to run a batch.", tags: null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 1, 10] });
        KeyValuePair<string, object?> model = new("gru.model", "demo");
        foreach (double seconds in new[] { 0.05, 0.1, 0.5, 5, 50 })
            duration.Record(seconds, model);

        string text = _exporter.Render();

        Assert.Contains(
            "# HELP gru_inference_duration_seconds Time to run a batch.\n" +
            "# TYPE gru_inference_duration_seconds histogram\n" +
            "gru_inference_duration_seconds_bucket{gru_model=\"demo\",le=\"0.1\"} 2\n" + // 0.1 itself counts: le is inclusive
            "gru_inference_duration_seconds_bucket{gru_model=\"demo\",le=\"1\"} 3\n" +
            "gru_inference_duration_seconds_bucket{gru_model=\"demo\",le=\"10\"} 4\n" +
            "gru_inference_duration_seconds_bucket{gru_model=\"demo\",le=\"+Inf\"} 5\n" +
            "gru_inference_duration_seconds_sum{gru_model=\"demo\"} 55.65\n" +
            "gru_inference_duration_seconds_count{gru_model=\"demo\"} 5\n",
            text);
    }

    [Fact]
    public void Render_HistogramWithoutAdvice_UsesOpenTelemetryDefaultBoundaries()
    {
        var size = _meter.CreateHistogram<int>("gru.batch.size", "{sequence}");
        size.Record(7);
        size.Record(20000);

        string text = _exporter.Render();

        string[] buckets = text.Split('\n').Where(line => line.StartsWith("gru_batch_size_bucket{", StringComparison.Ordinal)).ToArray();
        Assert.Equal(
            new[] { "0", "5", "10", "25", "50", "75", "100", "250", "500", "750", "1000", "2500", "5000", "7500", "10000", "+Inf" },
            buckets.Select(line => line.Split('"')[1]));
        Assert.Equal(
            new[] { 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2 },
            buckets.Select(line => int.Parse(line.Split(' ')[1])));
        Assert.Contains("gru_batch_size_sum 20007\n", text);
        Assert.Contains("gru_batch_size_count 2\n", text);
    }

    [Fact]
    public void Render_ExposesEachInstrumentKindWithItsPrometheusType()
    {
        _meter.CreateUpDownCounter<int>("gru.requests.in_flight").Add(4);
        _meter.CreateGauge<double>("gru.model.temperature").Record(0.7);
        _meter.CreateObservableGauge("gru.models.loaded", () => 3);
        _meter.CreateObservableUpDownCounter("gru.memory.used", () => 2048L, "By");
        _meter.CreateObservableCounter("gru.cpu.time", () => 12.5, "s");

        string text = _exporter.Render();

        Assert.Contains("# TYPE gru_requests_in_flight gauge\ngru_requests_in_flight 4\n", text);
        Assert.Contains("# TYPE gru_model_temperature gauge\ngru_model_temperature 0.7\n", text);
        Assert.Contains("# TYPE gru_models_loaded gauge\ngru_models_loaded 3\n", text);
        Assert.Contains("# TYPE gru_memory_used_bytes gauge\ngru_memory_used_bytes 2048\n", text);
        Assert.Contains("# TYPE gru_cpu_time_seconds_total counter\ngru_cpu_time_seconds_total 12.5\n", text);
    }

    [Fact]
    public void Render_DropsObservableSeries_ThatTheCallbackNoLongerReports()
    {
        var models = new List<string> { "demand", "activity" };
        _meter.CreateObservableGauge("gru.model.version",
            () => models.Select(m => new Measurement<int>(1, new KeyValuePair<string, object?>("model", m))));

        string before = _exporter.Render();
        Assert.Contains("gru_model_version{model=\"demand\"} 1\n", before);
        Assert.Contains("gru_model_version{model=\"activity\"} 1\n", before);

        models.Remove("activity");
        string after = _exporter.Render();
        Assert.Contains("gru_model_version{model=\"demand\"} 1\n", after);
        Assert.DoesNotContain("activity", after);

        models.Clear();
        Assert.DoesNotContain("gru_model_version", _exporter.Render());
    }

    [Fact]
    public void Render_ReadsObservableInstrumentsAtEveryScrape()
    {
        double loaded = 1;
        long cpuTotal = 10;
        _meter.CreateObservableGauge("gru.models.loaded", () => loaded);
        // An observable counter reports its running total, which replaces, not adds to, the previous one.
        _meter.CreateObservableCounter("gru.cpu.time", () => cpuTotal, "s");

        Assert.Contains("gru_models_loaded 1\n", _exporter.Render());
        loaded = 2;
        cpuTotal = 15;
        string text = _exporter.Render();

        Assert.Contains("gru_models_loaded 2\n", text);
        Assert.Contains("gru_cpu_time_seconds_total 15\n", text);
    }

    [Fact]
    public void Render_UpDownCounterSumsIncrementsAndDecrements()
    {
        var inFlight = _meter.CreateUpDownCounter<long>("gru.requests.in_flight");
        inFlight.Add(5);
        inFlight.Add(-2);

        Assert.Contains("gru_requests_in_flight 3\n", _exporter.Render());
    }

    [Fact]
    public void Render_EscapesLabelValuesAndMapsTagKeys()
    {
        _meter.CreateCounter<long>("gru.errors").Add(1,
            new KeyValuePair<string, object?>("error.type", "C:\\models\\\"odd\"\nname"),
            new KeyValuePair<string, object?>("http.response.status_code", 500),
            new KeyValuePair<string, object?>("2xx.like", true));

        string text = _exporter.Render();

        Assert.Contains("gru_errors_total{_2xx_like=\"true\",error_type=\"C:\\\\models\\\\\\\"odd\\\"\\nname\",http_response_status_code=\"500\"} 1\n", text);
    }

    [Fact]
    public void Render_MergesTagKeysThatMapToOneLabelName()
    {
        // A label may appear once per sample; the OpenTelemetry specification joins the values with ';'.
        _meter.CreateCounter<long>("gru.clash").Add(1,
            new KeyValuePair<string, object?>("a_b", "second"),
            new KeyValuePair<string, object?>("a.b", "first"));

        Assert.Contains("gru_clash_total{a_b=\"first;second\"} 1\n", _exporter.Render());
    }

    [Fact]
    public void Render_EscapesHelpText()
    {
        _meter.CreateCounter<long>("gru.odd", description: "back\\slash\nnewline \"quoted\"").Add(1);

        Assert.Contains("# HELP gru_odd_total back\\\\slash\\nnewline \"quoted\"\n", _exporter.Render());
    }

    [Fact]
    public void Render_UsesNameAsHelpWithoutDescription()
    {
        _meter.CreateCounter<long>("gru.undocumented").Add(1);

        Assert.Contains("# HELP gru_undocumented_total gru.undocumented\n", _exporter.Render());
    }

    [Fact]
    public void Render_TagsInDifferentOrder_LandInTheSameSeries()
    {
        var requests = _meter.CreateCounter<long>("gru.requests");
        KeyValuePair<string, object?> model = new("model", "a");
        KeyValuePair<string, object?> status = new("status", 200);
        requests.Add(1, model, status);
        requests.Add(2, status, model);
        requests.Add(4, new KeyValuePair<string, object?>("status", "200"), model); // renders the same labels, so the same series

        string text = _exporter.Render();

        Assert.Single(text.Split('\n'), line => line.StartsWith("gru_requests_total", StringComparison.Ordinal));
        Assert.Contains("gru_requests_total{model=\"a\",status=\"200\"} 7\n", text);
    }

    [Fact]
    public void Render_SortsSeriesAndFamilies()
    {
        var requests = _meter.CreateCounter<long>("gru.b");
        requests.Add(1, new KeyValuePair<string, object?>("model", "zeta"));
        requests.Add(1, new KeyValuePair<string, object?>("model", "alpha"));
        _meter.CreateCounter<long>("gru.a").Add(1);

        string text = _exporter.Render();

        Assert.True(text.IndexOf("gru_a_total", StringComparison.Ordinal) < text.IndexOf("gru_b_total", StringComparison.Ordinal));
        Assert.True(text.IndexOf("model=\"alpha\"", StringComparison.Ordinal) < text.IndexOf("model=\"zeta\"", StringComparison.Ordinal));
    }

    [Fact]
    public void Render_WritesSpecialValuesAsPrometheusDoes()
    {
        _meter.CreateObservableGauge("gru.special", () => new[]
        {
            new Measurement<double>(double.PositiveInfinity, new KeyValuePair<string, object?>("v", "pinf")),
            new Measurement<double>(double.NegativeInfinity, new KeyValuePair<string, object?>("v", "ninf")),
            new Measurement<double>(double.NaN, new KeyValuePair<string, object?>("v", "nan")),
            new Measurement<double>(1e21, new KeyValuePair<string, object?>("v", "large")),
            new Measurement<double>(-0.000123, new KeyValuePair<string, object?>("v", "small")),
        });

        string text = _exporter.Render();

        Assert.Contains("gru_special{v=\"pinf\"} +Inf\n", text);
        Assert.Contains("gru_special{v=\"ninf\"} -Inf\n", text);
        Assert.Contains("gru_special{v=\"nan\"} NaN\n", text);
        Assert.Contains("gru_special{v=\"large\"} 1E+21\n", text);
        Assert.Contains("gru_special{v=\"small\"} -0.000123\n", text);
    }

    [Fact]
    public void Render_OmitsFamiliesWithoutSeries()
    {
        _meter.CreateCounter<long>("gru.never.used");

        Assert.DoesNotContain("gru_never_used", _exporter.Render());
    }

    [Fact]
    public void Render_IgnoresMetersOfAnotherMeterFactory()
    {
        using var otherHost = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var otherMeter = otherHost.GetRequiredService<IMeterFactory>().Create("GruService.Tests");
        otherMeter.CreateCounter<long>("gru.requests").Add(100);
        otherMeter.CreateCounter<long>("gru.other.host.only").Add(1);
        _meter.CreateCounter<long>("gru.requests").Add(1);

        string text = _exporter.Render();

        Assert.Contains("gru_requests_total 1\n", text);
        Assert.DoesNotContain("gru_other_host_only", text);
    }

    [Fact]
    public void Render_ExportsOnlyTheListedMeters()
    {
        using var exporter = new PrometheusExporter(_meterFactory);
        _meterFactory.Create("GruService.Inference").CreateCounter<long>("gru.listed").Add(1);
        _meterFactory.Create("Some.Library").CreateCounter<long>("library.unlisted").Add(1);
        _meterFactory.Create("Microsoft.AspNetCore.Hosting").CreateUpDownCounter<long>("http.server.active_requests", "{request}").Add(1);

        string text = exporter.Render();

        Assert.Contains("gru_listed_total 1\n", text);
        Assert.Contains("# TYPE http_server_active_requests gauge\nhttp_server_active_requests 1\n", text);
        Assert.DoesNotContain("library_unlisted", text);
        Assert.Contains("# TYPE dotnet_gc_heap_total_allocated_bytes_total counter\n", text); // System.Runtime, a static meter
    }

    [Fact]
    public void Render_ExportsAMeterCreatedBeforeTheExporter()
    {
        var early = _meterFactory.Create("GruService.Early").CreateCounter<long>("gru.early");
        using var exporter = new PrometheusExporter(_meterFactory, ["GruService*"]);
        early.Add(2);

        Assert.Contains("gru_early_total 2\n", exporter.Render());
    }

    [Fact]
    public void Render_StopsExportingMetersOfADisposedMeterFactory()
    {
        // As when a host shuts down: its container disposes the factory, and the factory its meters.
        var temporaryHost = new ServiceCollection().AddMetrics().BuildServiceProvider();
        var temporaryFactory = temporaryHost.GetRequiredService<IMeterFactory>();
        using var exporter = new PrometheusExporter(temporaryFactory, ["GruService*"]);
        temporaryFactory.Create("GruService.Tests").CreateCounter<long>("gru.temporary").Add(1);
        Assert.Contains("gru_temporary_total 1\n", exporter.Render());

        temporaryHost.Dispose();

        Assert.DoesNotContain("gru_temporary_total", exporter.Render());
    }

    [Fact]
    public void Dispose_StopsListening()
    {
        var counter = _meter.CreateCounter<long>("gru.requests");
        Assert.True(counter.Enabled);

        _exporter.Dispose();

        Assert.False(counter.Enabled);
    }

    [Fact]
    public void Record_BeyondTheSeriesLimit_CountsInAnOverflowSeries()
    {
        var requests = _meter.CreateCounter<long>("gru.requests");
        for (int i = 0; i < ExportedInstrument.MaxSeries + 10; i++)
            requests.Add(1, new KeyValuePair<string, object?>("id", i));

        string text = _exporter.Render();

        Assert.Equal(ExportedInstrument.MaxSeries + 1, text.Split('\n').Count(line => line.StartsWith("gru_requests_total{", StringComparison.Ordinal)));
        Assert.Contains("gru_requests_total{otel_metric_overflow=\"true\"} 10\n", text);
    }

    [Fact]
    public async Task Record_FromManyThreads_KeepsExactTotals()
    {
        const int threads = 8;
        const int perThread = 20_000;
        var requests = _meter.CreateCounter<long>("gru.requests");
        var seconds = _meter.CreateCounter<double>("gru.busy.time", "s");
        var sizes = _meter.CreateHistogram<int>("gru.batch.size", "{sequence}", null, null,
            new InstrumentAdvice<int> { HistogramBucketBoundaries = [1, 10] });
        string[] models = ["a", "b", "c"];

        using var start = new Barrier(threads + 1);
        Task[] workers = Enumerable.Range(0, threads).Select(t => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait();
            for (int i = 0; i < perThread; i++)
            {
                var model = new KeyValuePair<string, object?>("model", models[i % models.Length]);
                var worker = new KeyValuePair<string, object?>("even", t % 2 == 0);
                requests.Add(1, model, worker);
                seconds.Add(0.5, worker);
                sizes.Record(i % 20, model);
            }
        }, TaskCreationOptions.LongRunning)).ToArray();
        start.SignalAndWait();
        // Scrapes run while measurements arrive; they must neither throw nor disturb the totals.
        while (!workers.All(w => w.IsCompleted))
            _exporter.Render();
        await Task.WhenAll(workers);

        string text = _exporter.Render();

        // 20 000 iterations: models a, b, c take 6667, 6667 and 6666 of them in every thread; 4 threads are even.
        Assert.Contains("gru_requests_total{even=\"true\",model=\"a\"} 26668\n", text);
        Assert.Contains("gru_requests_total{even=\"false\",model=\"c\"} 26664\n", text);
        long requestTotal = text.Split('\n').Where(l => l.StartsWith("gru_requests_total{", StringComparison.Ordinal)).Sum(l => long.Parse(l.Split(' ')[1]));
        Assert.Equal(threads * perThread, requestTotal);
        Assert.Contains($"gru_busy_time_seconds_total{{even=\"true\"}} {threads / 2 * perThread * 0.5}\n", text);
        long histogramCount = text.Split('\n').Where(l => l.StartsWith("gru_batch_size_count{", StringComparison.Ordinal)).Sum(l => long.Parse(l.Split(' ')[1]));
        Assert.Equal(threads * perThread, histogramCount);
        long infBuckets = text.Split('\n').Where(l => l.StartsWith("gru_batch_size_bucket{", StringComparison.Ordinal) && l.Contains("le=\"+Inf\"")).Sum(l => long.Parse(l.Split(' ')[1]));
        Assert.Equal(threads * perThread, infBuckets);
    }

    [Fact]
    public void Render_PassesPromtoolCheckMetrics()
    {
        KeyValuePair<string, object?> route = new("http.route", "/models/{name}");
        KeyValuePair<string, object?> awkward = new("detail", "quote \" backslash \\ newline \n done");
        _meter.CreateCounter<long>("gru.inference.requests", "{request}", "Inference requests.").Add(3, route, awkward);
        _meter.CreateCounter<double>("gru.busy.time", "s", "Time spent running batches.").Add(1.5);
        _meter.CreateUpDownCounter<int>("gru.requests.active", "{request}").Add(2, route);
        _meter.CreateGauge<double>("gru.model.fill", "1").Record(0.25);
        _meter.CreateHistogram<double>("gru.inference.duration", "s", "Batch duration.", null,
            new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.005, 0.01, 0.1, 1] }).Record(0.02, route);
        _meter.CreateHistogram<long>("gru.response.size", "By").Record(5000);
        _meter.CreateObservableCounter("gru.cpu.time", () => 4.5, "s");
        _meter.CreateObservableUpDownCounter("gru.memory.used", () => 1L << 20, "By");
        _meter.CreateObservableGauge("gru.models.loaded", () => new Measurement<int>(2, new KeyValuePair<string, object?>("state", "ready")));
        _meter.CreateObservableGauge("gru.special", () => double.NaN);

        string text = _exporter.Render();
        var (exitCode, output) = Promtool.CheckMetrics(text);

        Assert.True(exitCode == 0 && output.Length == 0, $"promtool exit code {exitCode}:\n{output}\n\nInput:\n{text}");
    }
}
