using System.Buffers;

namespace GruService.Engine;

/// <summary>
/// The packed layout of a ragged batch, as PyTorch's PackedSequence lays it out: sequences sorted by length,
/// longest first (stable), and rows ordered by time then by sorted position. At step t the sequences still
/// running are the first <see cref="Active"/>(t), and their rows are contiguous from <see cref="StepOffset"/>(t).
/// </summary>
internal sealed class BatchPlan : IDisposable
{
    private int[] _order = [];     // sorted position → original index
    private int[] _lengths = [];   // sorted position → length
    private int[] _sources = [];   // sorted position → first step in the caller's back-to-back input
    private int[] _active = [];    // t → sequences with length > t
    private int[] _offsets = [];   // t → packed row of the first active sequence at step t

    public int BatchSize { get; private set; }
    public int TotalSteps { get; private set; }
    public int MaxLength { get; private set; }

    public static BatchPlan Create(ReadOnlySpan<int> lengths)
    {
        if (lengths.IsEmpty) throw new ArgumentException("A batch needs at least one sequence.", nameof(lengths));
        var plan = new BatchPlan();
        var pool = ArrayPool<int>.Shared;
        int batch = lengths.Length;
        plan.BatchSize = batch;
        plan._order = pool.Rent(batch);
        plan._lengths = pool.Rent(batch);
        plan._sources = pool.Rent(batch);

        long total = 0;
        int max = 0;
        for (int i = 0; i < batch; i++)
        {
            if (lengths[i] < 1) throw new ArgumentException($"Sequence {i} is empty.", nameof(lengths));
            plan._order[i] = i;
            total += lengths[i];
            max = Math.Max(max, lengths[i]);
        }
        if (total > int.MaxValue / 4) throw new ArgumentException("The batch has too many steps.", nameof(lengths));
        plan.TotalSteps = (int)total;
        plan.MaxLength = max;

        // Stable sort by length, longest first: insertion sort keeps equal lengths in input order.
        Span<int> order = plan._order.AsSpan(0, batch);
        for (int i = 1; i < batch; i++)
        {
            int item = order[i], j = i - 1;
            while (j >= 0 && lengths[order[j]] < lengths[item]) { order[j + 1] = order[j]; j--; }
            order[j + 1] = item;
        }

        Span<int> sourceStart = batch <= 256 ? stackalloc int[batch] : new int[batch];
        for (int i = 0, s = 0; i < batch; s += lengths[i], i++) sourceStart[i] = s;
        for (int j = 0; j < batch; j++)
        {
            plan._lengths[j] = lengths[order[j]];
            plan._sources[j] = sourceStart[order[j]];
        }

        plan._active = pool.Rent(max);
        plan._offsets = pool.Rent(max);
        int running = batch, offset = 0;
        for (int t = 0; t < max; t++)
        {
            while (plan._lengths[running - 1] <= t) running--;
            plan._active[t] = running;
            plan._offsets[t] = offset;
            offset += running;
        }
        return plan;
    }

    public int Active(int t) => _active[t];
    public int StepOffset(int t) => _offsets[t];
    public int Length(int sorted) => _lengths[sorted];
    public int Original(int sorted) => _order[sorted];
    public int SourceOffset(int sorted) => _sources[sorted];

    /// <summary>Packed row of the sequence at sorted position <paramref name="sorted"/>, time <paramref name="t"/>.</summary>
    public int Row(int sorted, int t) => _offsets[t] + sorted;

    /// <summary>
    /// Rows in the order the reverse direction reads them: row (t, j) holds sequence j's step length−1−t.
    /// The reverse direction then sees the same time-major, prefix-active layout as the forward one.
    /// </summary>
    public void GatherReversed(ReadOnlySpan<float> packed, int width, Span<float> reversed)
    {
        for (int t = 0; t < MaxLength; t++)
            for (int j = 0; j < _active[t]; j++)
                packed.Slice(Row(j, _lengths[j] - 1 - t) * width, width).CopyTo(reversed.Slice(Row(j, t) * width, width));
    }

    public void Dispose()
    {
        var pool = ArrayPool<int>.Shared;
        pool.Return(_order);
        pool.Return(_lengths);
        pool.Return(_sources);
        pool.Return(_active);
        pool.Return(_offsets);
        _order = _lengths = _sources = _active = _offsets = [];
    }
}
