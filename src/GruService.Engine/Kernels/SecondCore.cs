using System.Diagnostics;
using System.Runtime.ExceptionServices;

namespace GruService.Engine.Kernels;

/// <summary>
/// Runs half of a large <see cref="Gemm"/> product on a second core: one resident helper thread, a static split,
/// and stealing when the helper is late.
/// </summary>
/// <remarks>
/// <para>
/// The recurrent product of one time step takes a few microseconds, so a handoff has to cost well under one: the
/// helper spins on a flag for a while after each product (the next one of a forward pass comes microseconds later)
/// and only then sleeps. Parallel.For measured several microseconds per call and allocates (see the benchmarks).
/// </para>
/// <para>
/// The caller computes chunks [0, mine) and the helper claims chunks [mine, count) one at a time; a caller that
/// finishes first claims the helper's remaining chunks too, so a sleeping or descheduled helper costs nothing but
/// its share of speed. The static split keeps each core on the same columns from one call to the next, so each
/// keeps its half of a recurrent weight in its own L2. Whoever computes a chunk computes whole output elements,
/// each in its one fixed order: the split never changes a bit of the result.
/// </para>
/// <para>
/// One product at a time uses the helper; a caller that finds it taken (concurrent requests) runs its product
/// alone, which is then what the cores are best spent on anyway.
/// </para>
/// </remarks>
internal static unsafe class SecondCore
{
    private const int Idle = 0, Posted = 1, Running = 2, Done = 3;

    /// <summary>
    /// How long the helper spins for the next product before it sleeps: longer than the gate math between two
    /// recurrent products of a large batch (~100 µs at B = 64, H = 256), so that it does not fall asleep mid-pass.
    /// </summary>
    private static readonly long s_spinTicks = Stopwatch.Frequency / 5_000; // 200 µs

    /// <summary>A wait for the helper longer than this (and than the caller's own share took) means it was preempted.</summary>
    private static readonly long s_lateTicks = Stopwatch.Frequency / 50_000; // 20 µs

    /// <summary>
    /// After a late helper, automatic splitting stays off for this many times the wait (at most 100 ms): a stray
    /// interrupt (tens of µs, about once in 2000 products when measured) then costs about a millisecond on one
    /// core, while a core taken by another process (a scheduler slice, milliseconds, again and again) costs at
    /// most ~1/16 of the time in stalls.
    /// </summary>
    private const int BackoffPerWait = 16;

    private static readonly long s_maxBackoffTicks = Stopwatch.Frequency / 10;

    private static long s_backoffUntil;
    private static int s_started;

    private static int s_owner;
    private static int s_state;
    private static int s_sleeping;
    private static int s_next;
    private static Job s_job;
    private static IGemmRowEpilogue? s_epilogue;
    private static Exception? s_helperError;
    private static long s_helperChunks;
    private static long s_lateHelper;
    private static readonly ManualResetEventSlim s_wake = new(false, spinCount: 1);

    /// <summary>Chunks the helper thread has computed since the process started (tests check it does work).</summary>
    internal static long HelperChunks => Volatile.Read(ref s_helperChunks);

    /// <summary>Products since the process started after which automatic splitting backed off (diagnostics).</summary>
    internal static long LateHelperCount => Volatile.Read(ref s_lateHelper);

    /// <summary>
    /// False for a while after the helper was late: its core is busy (another request, another process), and a
    /// preempted helper holding a chunk would stall the caller for a scheduler time slice, milliseconds. Automatic
    /// splitting then stays off; forced splits (tests, benchmarks) ignore this.
    /// </summary>
    public static bool Worthwhile => Stopwatch.GetTimestamp() >= Volatile.Read(ref s_backoffUntil);

    /// <summary>
    /// Chunks [0, mine) here, the rest on the helper (or here, if it is late or taken); <paramref name="epilogue"/>
    /// (row chunks only) runs on each chunk by whichever thread computed it.
    /// </summary>
    public static void Run(in GemmOperands op, in GemmPlan plan, IGemmRowEpilogue? epilogue, bool stealFromHelper)
    {
        int chunks = plan.Split.Chunks;
        if (!TryTakeHelper(wait: !stealFromHelper))
        {
            for (int chunk = 0; chunk < chunks; chunk++) Gemm.RunChunk(op, plan, chunk, epilogue);
            return;
        }
        int mine = (chunks + 1) / 2;
        EnsureStarted();
        try
        {
            fixed (float* a = op.A, panels = op.Panels, bias = op.Bias, c = op.C)
            {
                s_job = new Job(a, op.A.Length, op.Rows, op.AStride, panels, op.Panels.Length, op.K, op.N, bias, op.Bias.Length, op.Start,
                    c, op.C.Length, op.CStride, plan);
                s_epilogue = epilogue;
                s_helperError = null;
                s_next = mine;
                long posted = Stopwatch.GetTimestamp(), ownDone = posted;
                Interlocked.Exchange(ref s_state, Posted);
                if (Volatile.Read(ref s_sleeping) != 0) s_wake.Set();
                try
                {
                    for (int chunk = 0; chunk < mine; chunk++) Gemm.RunChunk(op, plan, chunk, epilogue);
                    if (stealFromHelper)
                        for (int chunk; (chunk = Interlocked.Increment(ref s_next) - 1) < chunks;)
                            Gemm.RunChunk(op, plan, chunk, epilogue);
                    ownDone = Stopwatch.GetTimestamp();
                }
                finally
                {
                    // Nothing may return (and unpin the operands) while the helper still reads them.
                    WaitForHelper(cancelIfNotStarted: stealFromHelper);
                }
                long waited = Stopwatch.GetTimestamp() - ownDone;
                if (waited > s_lateTicks && waited > ownDone - posted)
                {
                    Volatile.Write(ref s_backoffUntil, Stopwatch.GetTimestamp() + Math.Min(BackoffPerWait * waited, s_maxBackoffTicks));
                    Interlocked.Increment(ref s_lateHelper);
                }
                s_epilogue = null;
                // An epilogue that threw on the helper throws here, on the thread that asked for the product.
                if (s_helperError is { } error)
                {
                    s_helperError = null;
                    ExceptionDispatchInfo.Throw(error);
                }
            }
        }
        finally
        {
            Volatile.Write(ref s_owner, 0);
        }
    }

    /// <summary>The same split through Parallel.For, for the benchmarks to compare with.</summary>
    public static void RunOnThreadPool(in GemmOperands op, in GemmPlan plan, IGemmRowEpilogue? epilogue)
    {
        fixed (float* a = op.A, panels = op.Panels, bias = op.Bias, c = op.C)
        {
            var job = new Job(a, op.A.Length, op.Rows, op.AStride, panels, op.Panels.Length, op.K, op.N, bias, op.Bias.Length, op.Start,
                c, op.C.Length, op.CStride, plan);
            int mine = (plan.Split.Chunks + 1) / 2;
            Parallel.For(0, 2, part =>
            {
                GemmOperands operands = job.Operands;
                int first = part == 0 ? 0 : mine, end = part == 0 ? mine : job.Plan.Split.Chunks;
                for (int chunk = first; chunk < end; chunk++) Gemm.RunChunk(operands, job.Plan, chunk, epilogue);
            });
        }
    }

    private static bool TryTakeHelper(bool wait)
    {
        if (Interlocked.CompareExchange(ref s_owner, 1, 0) == 0) return true;
        if (!wait) return false;
        var spin = new SpinWait();
        while (Interlocked.CompareExchange(ref s_owner, 1, 0) != 0) spin.SpinOnce(sleep1Threshold: -1);
        return true;
    }

    private static void WaitForHelper(bool cancelIfNotStarted)
    {
        // A helper that has not picked the job up never will: take it back, all its chunks are done.
        if (cancelIfNotStarted && Interlocked.CompareExchange(ref s_state, Idle, Posted) == Posted) return;
        var spin = new SpinWait();
        while (Volatile.Read(ref s_state) != Done) spin.SpinOnce(sleep1Threshold: -1);
        Volatile.Write(ref s_state, Idle);
    }

    private static void EnsureStarted()
    {
        if (Volatile.Read(ref s_started) == 0 && Interlocked.Exchange(ref s_started, 1) == 0)
            new Thread(HelperLoop) { IsBackground = true, Name = "GEMM second core" }.Start();
    }

    private static void HelperLoop()
    {
        while (true)
        {
            WaitForPost();
            if (Interlocked.CompareExchange(ref s_state, Running, Posted) != Posted) continue; // the caller took it back
            Job job = s_job;
            GemmOperands op = job.Operands;
            IGemmRowEpilogue? epilogue = s_epilogue;
            try
            {
                for (int chunk; (chunk = Interlocked.Increment(ref s_next) - 1) < job.Plan.Split.Chunks;)
                {
                    Gemm.RunChunk(op, job.Plan, chunk, epilogue);
                    Interlocked.Increment(ref s_helperChunks);
                }
            }
            catch (Exception error)
            {
                // The caller rethrows it; the kernels themselves do not throw (the operands were validated).
                s_helperError = error;
                Interlocked.Exchange(ref s_next, int.MaxValue / 2);
            }
            Volatile.Write(ref s_state, Done);
        }
    }

    private static void WaitForPost()
    {
        long spinUntil = Stopwatch.GetTimestamp() + s_spinTicks;
        while (Volatile.Read(ref s_state) != Posted)
        {
            if (Stopwatch.GetTimestamp() < spinUntil)
            {
                Thread.SpinWait(4);
                continue;
            }
            // Announce the sleep, then look once more: a caller that posted in between sees the flag and wakes us.
            s_wake.Reset();
            Interlocked.Exchange(ref s_sleeping, 1);
            if (Volatile.Read(ref s_state) != Posted) s_wake.Wait();
            Interlocked.Exchange(ref s_sleeping, 0);
            spinUntil = Stopwatch.GetTimestamp() + s_spinTicks;
        }
    }

    /// <summary>A product's operands as raw pointers: they are pinned by the caller for as long as the job runs.</summary>
    private readonly struct Job(
        float* a, int aLength, int rows, int aStride, float* panels, int panelsLength, int k, int n, float* bias, int biasLength,
        GemmStart start, float* c, int cLength, int cStride, GemmPlan plan)
    {
        public readonly GemmPlan Plan = plan;

        public GemmOperands Operands => new(new ReadOnlySpan<float>(a, aLength), rows, aStride, new ReadOnlySpan<float>(panels, panelsLength),
            k, n, new ReadOnlySpan<float>(bias, biasLength), start, new Span<float>(c, cLength), cStride);
    }
}
