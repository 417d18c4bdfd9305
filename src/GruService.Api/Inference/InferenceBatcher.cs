using System.Diagnostics;
using System.Runtime.CompilerServices;
using GruService.Api.Models;
using GruService.Api.Observability;
using Microsoft.Extensions.Options;

namespace GruService.Api.Inference;

/// <summary>
/// Gathers concurrent forecast and classify requests into batched forward passes, one <see cref="ModelBatchQueue"/>
/// per model version. A singleton.
/// </summary>
public sealed class InferenceBatcher(IOptions<BatchingOptions> batching, IOptions<InferenceOptions> limits, ServiceMetrics metrics, ILogger<InferenceBatcher> logger)
{
    // Keyed by the loaded version itself, weakly: a version the registry has let go of takes its queue with it.
    private readonly ConditionalWeakTable<ServedModel, ModelBatchQueue> _queues = new();

    // Shared by every version's queue: the bound is on passes running in the process, whatever their model.
    private readonly PassSlots _passes = new(limits.Value.ConcurrentPasses, limits.Value.KernelThreads);

    /// <summary>
    /// Computes <paramref name="input"/>'s answers on <paramref name="served"/> into <paramref name="outputs"/>
    /// (at least sequences × outputs per sequence long), alone or batched with other requests for the same version;
    /// either way each sequence's answer is the same, bit for bit. The input must already be valid for the model.
    /// </summary>
    /// <exception cref="OperationCanceledException">The client went away before the request's forward pass started.</exception>
    /// <exception cref="InferenceFailedException">The forward pass failed.</exception>
    public Task RunAsync(ServedModel served, InputBatch input, float[] outputs, CancellationToken cancellationToken) =>
        QueueFor(served).RunAsync(new PendingInference(input, outputs, Stopwatch.GetTimestamp()), cancellationToken);

    private ModelBatchQueue QueueFor(ServedModel served)
    {
        if (_queues.TryGetValue(served, out ModelBatchQueue? queue))
            return queue;
        return _queues.GetValue(served, created =>
            new ModelBatchQueue(created, batching.Value.For(created.Name), limits.Value.MaxWorkingBytes, _passes, metrics, logger));
    }
}

/// <summary>A forward pass failed; the request gets a problem answer, not a 500.</summary>
public sealed class InferenceFailedException(string model, int version, Exception inner)
    : Exception($"Model '{model}' version {version} could not compute this request: {inner.Message}", inner)
{
    public string Model { get; } = model;
    public int Version { get; } = version;
}

/// <summary>
/// Answers a failed forward pass with 503 "inference_failed". The handlers' result unions are full, and such a failure
/// is exceptional: the input was validated, so it means the machine could not do the work (memory, most likely).
/// </summary>
internal sealed class InferenceFailureFilter : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        try
        {
            return await next(context);
        }
        catch (InferenceFailedException e)
        {
            return Problems.ApiProblem.ServiceUnavailable("inference_failed",
                $"{e.Message} The trace id identifies the failure in the service's logs; retrying may succeed.");
        }
    }
}
