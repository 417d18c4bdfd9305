namespace GruService.Engine.Tests;

/// <summary>Bytes one call allocates on the calling thread, after a warm-up, as the least of several trials.</summary>
/// <remarks>
/// The runtime now and then allocates on a thread for reasons of its own, once per process: a lock inflated for the
/// first time, an internal table grown (CI once saw 7,184 such bytes in a two-core product that allocates nothing).
/// Such a one-off lands in one trial; an allocation made by the code under test lands in every trial.
/// </remarks>
internal static class AllocationMeter
{
    public static long LeastBytesPerCall(Action call, int warmUps = 2, int trials = 5)
    {
        for (int i = 0; i < warmUps; i++) call(); // grows pooled buffers and lets the JIT settle
        long least = long.MaxValue;
        for (int trial = 0; trial < trials; trial++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            call();
            least = Math.Min(least, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        return least;
    }
}
