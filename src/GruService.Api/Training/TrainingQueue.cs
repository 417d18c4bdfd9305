using System.Threading.Channels;
using Microsoft.Extensions.Options;

namespace GruService.Api.Training;

/// <summary>Ids of jobs waiting to run, in a bounded channel the worker reads.</summary>
public sealed class TrainingQueue(IOptions<TrainingJobOptions> options)
{
    private readonly Channel<string> _channel = Channel.CreateBounded<string>(new BoundedChannelOptions(options.Value.QueueCapacity)
    {
        FullMode = BoundedChannelFullMode.Wait,
        SingleReader = false,
        SingleWriter = false,
    });

    public int Depth => _channel.Reader.Count;

    /// <summary>False when the queue is full.</summary>
    public bool TryEnqueue(string id) => _channel.Writer.TryWrite(id);

    /// <summary>Waits for room; for jobs recovered at start-up, which were accepted already.</summary>
    public ValueTask EnqueueAsync(string id, CancellationToken cancellationToken) => _channel.Writer.WriteAsync(id, cancellationToken);

    public IAsyncEnumerable<string> ReadAllAsync(CancellationToken cancellationToken) => _channel.Reader.ReadAllAsync(cancellationToken);
}
