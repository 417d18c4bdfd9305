namespace GruService.Engine.Training.Data;

/// <summary>
/// The order in which an epoch visits the training items, and how each batch is cut between threads.
/// Everything follows from (seed, epoch, item count, batch size, thread count), so a run can be repeated bit for bit.
/// </summary>
public sealed class MiniBatches
{
    /// <param name="itemCount">Training windows or sequences.</param>
    /// <param name="batchSize">Items per batch; the last batch of an epoch holds the remainder.</param>
    /// <param name="seed">The run's seed; epoch e draws from stream e of it.</param>
    public MiniBatches(int itemCount, int batchSize, ulong seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(itemCount, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(batchSize, 1);
        ItemCount = itemCount;
        BatchSize = batchSize;
        Seed = seed;
    }

    public int ItemCount { get; }
    public int BatchSize { get; }
    public ulong Seed { get; }
    public int BatchCount => (int)((ItemCount + (long)BatchSize - 1) / BatchSize);

    /// <summary>Writes the epoch's permutation of 0 … ItemCount − 1 into <paramref name="order"/> (length ItemCount).</summary>
    public void Shuffle(int epoch, Span<int> order)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(epoch);
        if (order.Length != ItemCount)
            throw new ArgumentException($"order has {order.Length} slots; there are {ItemCount} items.", nameof(order));
        for (int i = 0; i < order.Length; i++) order[i] = i;
        new SeededRandom(Seed, (ulong)epoch).Shuffle(order);
    }

    /// <summary>The epoch's permutation of 0 … ItemCount − 1.</summary>
    public int[] Shuffle(int epoch)
    {
        var order = new int[ItemCount];
        Shuffle(epoch, order);
        return order;
    }

    /// <summary>Positions in the epoch's order that batch <paramref name="batch"/> covers.</summary>
    public Range Batch(int batch)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batch);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(batch, BatchCount);
        int start = batch * BatchSize;
        return new Range(start, start + Math.Min(BatchSize, ItemCount - start));
    }

    /// <summary>
    /// Thread <paramref name="shard"/>'s contiguous part of a batch of <paramref name="batchLength"/> items:
    /// counts differ by at most one, larger shards first; a shard is empty when there are more threads than items.
    /// </summary>
    public static Range Shard(int batchLength, int shardCount, int shard)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(batchLength);
        CheckShard(shardCount, shard);
        int each = batchLength / shardCount, extra = batchLength % shardCount;
        int start = shard * each + Math.Min(shard, extra);
        return new Range(start, start + each + (shard < extra ? 1 : 0));
    }

    /// <summary>
    /// Thread <paramref name="shard"/>'s contiguous part of a ragged batch, balanced by time steps rather than by
    /// sequences: shard k starts at the first sequence whose preceding steps reach k/shardCount of the total.
    /// </summary>
    public static Range Shard(ReadOnlySpan<int> lengths, int shardCount, int shard)
    {
        CheckShard(shardCount, shard);
        long total = 0;
        foreach (int length in lengths)
        {
            ArgumentOutOfRangeException.ThrowIfNegative(length);
            total += length;
        }
        return new Range(Boundary(lengths, total, shardCount, shard), Boundary(lengths, total, shardCount, shard + 1));
    }

    // The first index i with steps(0 … i−1) · shardCount ≥ total · k; integer arithmetic, so every thread agrees.
    private static int Boundary(ReadOnlySpan<int> lengths, long total, int shardCount, int k)
    {
        if (k == shardCount) return lengths.Length;
        long before = 0;
        for (int i = 0; i < lengths.Length; i++)
        {
            if (before * shardCount >= total * k) return i;
            before += lengths[i];
        }
        return lengths.Length;
    }

    private static void CheckShard(int shardCount, int shard)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shardCount, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(shard);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(shard, shardCount);
    }
}
