using System.Buffers;
using GruService.Api.Inference;

namespace GruService.Api.Tests.Inference;

public class RequestBuffersTests
{
    /// <summary>
    /// The load test's 64 connections each hold a request's buffers at once: all 64 must come back to the pool, so the
    /// next 64 requests allocate nothing (the engine's Workspace pools kept 24 of a size on two cores).
    /// </summary>
    [Theory]
    [InlineData(16)]
    [InlineData(700)]
    [InlineData(2_500)]
    [InlineData(RequestBuffers.LargestPooled)]
    public void BuffersOf64RequestsInFlight_AreAllReused(int length)
    {
        ArrayPool<float> pool = RequestBuffers.CreatePool(ArrayPool<float>.Create());
        const int inFlight = 64;
        float[][] first = [.. Enumerable.Range(0, inFlight).Select(_ => pool.Rent(length))];
        foreach (float[] array in first) pool.Return(array);
        float[][] second = [.. Enumerable.Range(0, inFlight).Select(_ => pool.Rent(length))];

        var kept = new HashSet<float[]>(first, ReferenceEqualityComparer.Instance);
        Assert.All(second, array => Assert.Contains(array, kept));
    }

    [Fact]
    public void LargerBuffers_AreLentByTheLargePool_AndGoBackToIt()
    {
        ArrayPool<float> large = ArrayPool<float>.Create();
        ArrayPool<float> pool = RequestBuffers.CreatePool(large);
        float[] array = pool.Rent(RequestBuffers.LargestPooled + 1);
        pool.Return(array);
        Assert.Same(array, large.Rent(RequestBuffers.LargestPooled + 1));

        float[] small = pool.Rent(RequestBuffers.LargestPooled);
        pool.Return(small);
        Assert.NotSame(small, large.Rent(RequestBuffers.LargestPooled));
        Assert.Same(small, pool.Rent(RequestBuffers.LargestPooled));
    }
}
