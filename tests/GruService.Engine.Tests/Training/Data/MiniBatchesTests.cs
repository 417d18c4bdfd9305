using GruService.Engine.Training.Data;

namespace GruService.Engine.Tests.Training.Data;

public class MiniBatchesTests
{
    [Fact]
    public void SeededRandom_GeneratorsMatchTheirPublishedReferenceOutputs()
    {
        // xoshiro256** from state {1, 2, 3, 4}, as in Vigna's reference implementation.
        var xoshiro = new SeededRandom(1, 2, 3, 4);
        Assert.Equal([11520UL, 0UL, 1509978240UL, 1215971899390074240UL],
            new[] { xoshiro.NextUInt64(), xoshiro.NextUInt64(), xoshiro.NextUInt64(), xoshiro.NextUInt64() });

        ulong state = 0;
        Assert.Equal(0xE220A8397B1DCDAFUL, SeededRandom.SplitMix64(ref state));
        Assert.Equal(0x6E789E6AA1B965F4UL, SeededRandom.SplitMix64(ref state));
    }

    [Fact]
    public void SeededRandom_NextIntStaysInRangeAndHitsEveryValue()
    {
        var random = new SeededRandom(7);
        var seen = new int[5];
        for (int i = 0; i < 10_000; i++) seen[random.NextInt(5)]++;
        Assert.All(seen, count => Assert.InRange(count, 1800, 2200));
        Assert.Equal(0, random.NextInt(1));
    }

    [Fact]
    public void Shuffle_IsAPermutation()
    {
        int[] order = new MiniBatches(1000, 32, seed: 3).Shuffle(epoch: 5);
        Assert.Equal(Enumerable.Range(0, 1000), order.Order());
        Assert.NotEqual(Enumerable.Range(0, 1000), order);
    }

    [Fact]
    public void Shuffle_SameSeedAndEpoch_SameOrder()
    {
        Assert.Equal(new MiniBatches(500, 16, 42).Shuffle(3), new MiniBatches(500, 16, 42).Shuffle(3));
    }

    [Fact]
    public void Shuffle_DifferentSeedOrEpoch_DifferentOrder()
    {
        var batches = new MiniBatches(500, 16, 42);
        Assert.NotEqual(batches.Shuffle(0), new MiniBatches(500, 16, 43).Shuffle(0));
        Assert.NotEqual(batches.Shuffle(0), batches.Shuffle(1));
    }

    [Fact]
    public void Shuffle_IsPinned()
    {
        // Fixes the algorithm (the expected order was computed by an independent Python transcription of it):
        // if this changes, every seeded run changes, which must be a deliberate decision.
        Assert.Equal([8, 1, 4, 6, 0, 3, 5, 7, 9, 2], new MiniBatches(10, 4, seed: 42).Shuffle(epoch: 0));
    }

    [Fact]
    public void Batches_CoverTheOrderOnce_LastHoldsTheRemainder()
    {
        var batches = new MiniBatches(10, 4, 1);
        Assert.Equal(3, batches.BatchCount);
        Assert.Equal([(0, 4), (4, 8), (8, 10)],
            Enumerable.Range(0, 3).Select(b => (batches.Batch(b).Start.Value, batches.Batch(b).End.Value)));
        Assert.Throws<ArgumentOutOfRangeException>(() => batches.Batch(3));
        Assert.Equal(1, new MiniBatches(4, 4, 1).BatchCount);
    }

    [Theory]
    [InlineData(10, 3)]
    [InlineData(2, 4)]
    [InlineData(64, 8)]
    [InlineData(0, 2)]
    [InlineData(7, 1)]
    public void Shards_CoverTheBatchExactlyOnce_InOrder(int batchLength, int threads)
    {
        var covered = new List<int>();
        var sizes = new List<int>();
        for (int shard = 0; shard < threads; shard++)
        {
            (int offset, int length) = MiniBatches.Shard(batchLength, threads, shard).GetOffsetAndLength(batchLength);
            covered.AddRange(Enumerable.Range(offset, length));
            sizes.Add(length);
        }
        Assert.Equal(Enumerable.Range(0, batchLength), covered);
        Assert.True(sizes.Max() - sizes.Min() <= 1);
    }

    [Fact]
    public void Shards_SameThreadCount_SameCut()
    {
        Assert.Equal(new Range(4, 7), MiniBatches.Shard(10, 3, 1));
        Assert.Equal(MiniBatches.Shard(10, 3, 1), MiniBatches.Shard(10, 3, 1));
    }

    [Theory]
    [InlineData(new[] { 5, 1, 1, 1, 1, 1 }, 2)]
    [InlineData(new[] { 3, 3, 3, 3 }, 4)]
    [InlineData(new[] { 100, 1, 1 }, 3)]
    [InlineData(new[] { 2, 9, 4, 4, 1, 7, 3 }, 3)]
    [InlineData(new[] { 1 }, 4)]
    public void RaggedShards_CoverTheBatchExactlyOnce_BalancedBySteps(int[] lengths, int threads)
    {
        var covered = new List<int>();
        for (int shard = 0; shard < threads; shard++)
        {
            (int offset, int length) = MiniBatches.Shard(lengths, threads, shard).GetOffsetAndLength(lengths.Length);
            covered.AddRange(Enumerable.Range(offset, length));
        }
        Assert.Equal(Enumerable.Range(0, lengths.Length), covered);
    }

    [Fact]
    public void RaggedShards_SplitByStepsNotBySequences()
    {
        // 10 steps in all: the long first sequence alone is the first half.
        int[] lengths = [5, 1, 1, 1, 1, 1];
        Assert.Equal(new Range(0, 1), MiniBatches.Shard(lengths, 2, 0));
        Assert.Equal(new Range(1, 6), MiniBatches.Shard(lengths, 2, 1));
    }
}
