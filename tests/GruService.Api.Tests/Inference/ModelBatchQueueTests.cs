using GruService.Api.Inference;
using GruService.Api.Models;
using GruService.Api.Observability;
using GruService.Engine;
using GruService.Engine.ModelFiles;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using static GruService.Api.Tests.Inference.BatchingTestData;

namespace GruService.Api.Tests.Inference;

/// <summary>One model version's batcher on its own, fed requests directly.</summary>
public sealed class ModelBatchQueueTests : IDisposable
{
    private readonly string _storageRoot = Directory.CreateTempSubdirectory("gru-batch-tests-").FullName;
    private readonly ServiceProvider _services = new ServiceCollection().AddMetrics().BuildServiceProvider();
    private readonly PrometheusExporter _exporter;
    private readonly ServiceMetrics _metrics;
    private readonly GruModel _model = ModelFile.Read(ReferenceModel.Load(25).File, new ModelLimits());
    private readonly Random _random = new(7);

    public ModelBatchQueueTests()
    {
        var meterFactory = _services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>();
        _exporter = new PrometheusExporter(meterFactory, ["GruService*"]);
        var registry = new ModelRegistry(new FileModelStore(Options.Create(new StorageOptions { Root = _storageRoot })),
            Options.Create(new ModelOptions()), NullLogger<ModelRegistry>.Instance);
        _metrics = new ServiceMetrics(meterFactory, registry);
    }

    public void Dispose()
    {
        _exporter.Dispose();
        _services.Dispose();
        Directory.Delete(_storageRoot, recursive: true);
    }

    [Fact]
    public void LoneRequest_IsAnsweredOnItsOwnThread_BeforeRunAsyncReturns()
    {
        ModelBatchQueue queue = Queue(new BatchSettings(Enabled: true, MaxBatchSize: 64, MaxQueueDelayMicroseconds: 0));
        float[][][] sequences = RandomSequences(_random, 3, _model.Config.InputSize, 25);
        PendingInference request = Pending(sequences);

        Task running = queue.RunAsync(request, CancellationToken.None);

        // Completed synchronously: no queue, no hand-off to another thread when nothing else is running.
        Assert.True(running.IsCompletedSuccessfully);
        AssertAnswersAlone(sequences, request);
        Assert.Equal(1, Metric("gruservice_inference_batch_size_count{model=\"m\"}"));
    }

    [Fact]
    public async Task Leader_WithASubMillisecondDelay_AndNobodyComing_RunsItsBatchAlone()
    {
        ModelBatchQueue queue = Queue(new BatchSettings(Enabled: true, MaxBatchSize: 64, MaxQueueDelayMicroseconds: 200));
        float[][][] sequences = RandomSequences(_random, 2, _model.Config.InputSize, 25);
        PendingInference request = Pending(sequences);

        await queue.RunAsync(request, CancellationToken.None);

        AssertAnswersAlone(sequences, request);
        Assert.Equal(1, Metric("gruservice_inference_batch_size_count{model=\"m\"}"));
        Assert.Equal(0, Metric("gruservice_inference_pending_requests{model=\"m\"}"));
    }

    [Fact]
    public async Task Batch_TakesWholeRequests_UpToMaxBatchSizeSequences()
    {
        // The leader (1 sequence) waits for 3 more; the 2-sequence requests would overflow its batch, so they form the next.
        ModelBatchQueue queue = Queue(new BatchSettings(Enabled: true, MaxBatchSize: 4, MaxQueueDelayMicroseconds: 1_000_000));
        float[][][][] sizes = [.. new[] { 1, 3, 2, 2 }.Select(n => RandomSequences(_random, n, _model.Config.InputSize, 25))];
        PendingInference[] requests = [.. sizes.Select(Pending)];

        Task[] running = [.. requests.Select(r => queue.RunAsync(r, CancellationToken.None))];
        await Task.WhenAll(running);

        for (int r = 0; r < requests.Length; r++)
            AssertAnswersAlone(sizes[r], requests[r]);
        Assert.Equal(2, Metric("gruservice_inference_batch_size_count{model=\"m\"}"));
        Assert.Equal(8, Metric("gruservice_inference_batch_size_sum{model=\"m\"}"));
        Assert.Equal(0, Metric("gruservice_inference_batch_size_bucket{model=\"m\",le=\"2\"}"));
        Assert.Equal(0, Metric("gruservice_inference_pending_requests{model=\"m\"}"));
    }

    [Fact]
    public async Task FailedForwardPass_FailsOnlyTheRequestThatCannotBeComputed()
    {
        ModelBatchQueue queue = Queue(new BatchSettings(Enabled: true, MaxBatchSize: 3, MaxQueueDelayMicroseconds: 1_000_000));
        float[][][] first = RandomSequences(_random, 1, _model.Config.InputSize, 25), last = RandomSequences(_random, 1, _model.Config.InputSize, 25);
        // Lengths that disagree with the values: the engine refuses the batch that holds it.
        var broken = new InputBatch();
        for (int i = 0; i < _model.Config.InputSize * 3; i++) broken.AddValue(0.5f);
        broken.EndSequence(5);
        PendingInference good1 = Pending(first), bad = new(broken, new float[_model.OutputsPerSequence], System.Diagnostics.Stopwatch.GetTimestamp()), good2 = Pending(last);

        Task running1 = queue.RunAsync(good1, CancellationToken.None), runningBad = queue.RunAsync(bad, CancellationToken.None),
            running2 = queue.RunAsync(good2, CancellationToken.None);

        var failure = await Assert.ThrowsAsync<InferenceFailedException>(() => runningBad);
        Assert.Contains("Model 'm' version 1 could not compute this request", failure.Message);
        await running1;
        await running2;
        AssertAnswersAlone(first, good1);
        AssertAnswersAlone(last, good2);
    }

    private ModelBatchQueue Queue(BatchSettings settings) =>
        new(new ServedModel("m", new StoredVersion(1, DateTimeOffset.UnixEpoch, "", 0), _model), settings, 1L << 30, new PassSlots(2, kernelThreads: 2), _metrics, NullLogger.Instance);

    private PendingInference Pending(float[][][] sequences)
    {
        var input = new InputBatch();
        foreach (float[][] sequence in sequences)
        {
            foreach (float value in sequence.SelectMany(step => step)) input.AddValue(value);
            input.EndSequence(sequence.Length);
        }
        return new PendingInference(input, new float[sequences.Length * _model.OutputsPerSequence], System.Diagnostics.Stopwatch.GetTimestamp());
    }

    private void AssertAnswersAlone(float[][][] sequences, PendingInference request)
    {
        int width = _model.OutputsPerSequence;
        for (int s = 0; s < sequences.Length; s++)
            Assert.Null(BitDifference(Alone(_model, sequences[s]), request.Outputs.AsSpan(s * width, width).ToArray()));
    }

    private double? Metric(string series) => Sample(_exporter.Render(), series);
}
