using System.Numerics;
using System.Numerics.Tensors;

namespace GruService.Engine.Training;

/// <summary>
/// The packed layout of a ragged batch, as PyTorch's PackedSequence lays it out, for inference and training alike:
/// sequences sorted by length, longest first (ties in input order), rows ordered by time then sorted position, so that
/// at step t the running sequences are the first <see cref="Active"/>(t) and their rows are contiguous. It is reset in
/// place for every batch, so a holder that keeps one allocates nothing once its arrays are big enough.
/// </summary>
internal sealed class PackedBatch
{
    private long[] _keys = [];
    private int[] _order = [];    // sorted position → input index
    private int[] _sorted = [];   // input index → sorted position
    private int[] _lengths = [];  // sorted position → length
    private int[] _sources = [];  // sorted position → first step in the caller's back-to-back input
    private int[] _active = [];   // t → sequences with length > t
    private int[] _offsets = [];  // t → packed row of the first active sequence at step t

    public int BatchSize { get; private set; }
    public int TotalSteps { get; private set; }
    public int MaxLength { get; private set; }

    public void Reset(ReadOnlySpan<int> lengths)
    {
        if (lengths.IsEmpty) throw new ArgumentException("A batch needs at least one sequence.", nameof(lengths));
        int batch = lengths.Length;
        long total = 0;
        int max = 0;
        for (int i = 0; i < batch; i++)
        {
            if (lengths[i] < 1) throw new ArgumentException($"Sequence {i} is empty.", nameof(lengths));
            total += lengths[i];
            max = Math.Max(max, lengths[i]);
        }
        if (total > int.MaxValue / 4) throw new ArgumentException("The batch has too many steps.", nameof(lengths));

        Grow(ref _keys, batch);
        Grow(ref _order, batch);
        Grow(ref _sorted, batch);
        Grow(ref _lengths, batch);
        Grow(ref _sources, batch);
        Grow(ref _active, max);
        Grow(ref _offsets, max);
        BatchSize = batch;
        TotalSteps = (int)total;
        MaxLength = max;

        // Longest first, ties in input order: one key per sequence makes an unstable in-place sort stable.
        Span<long> keys = _keys.AsSpan(0, batch);
        for (int i = 0; i < batch; i++) keys[i] = ((long)(int.MaxValue - lengths[i]) << 32) | (uint)i;
        keys.Sort();
        for (int j = 0; j < batch; j++)
        {
            int index = (int)(keys[j] & uint.MaxValue);
            _order[j] = index;
            _sorted[index] = j;
            _lengths[j] = lengths[index];
        }
        for (int i = 0, source = 0; i < batch; source += lengths[i], i++) _sources[_sorted[i]] = source;

        int running = batch, offset = 0;
        for (int t = 0; t < max; t++)
        {
            while (_lengths[running - 1] <= t) running--;
            _active[t] = running;
            _offsets[t] = offset;
            offset += running;
        }
    }

    /// <summary>Sequences still running at step t; 0 past the longest sequence.</summary>
    public int Active(int t) => t < MaxLength ? _active[t] : 0;

    public int StepOffset(int t) => _offsets[t];
    public int Length(int sorted) => _lengths[sorted];
    public int Original(int sorted) => _order[sorted];
    public int Sorted(int original) => _sorted[original];
    public int SourceOffset(int sorted) => _sources[sorted];

    /// <summary>Packed row of the sequence at sorted position <paramref name="sorted"/>, time <paramref name="t"/>.</summary>
    public int Row(int sorted, int t) => _offsets[t] + sorted;

    /// <summary>
    /// For every packed row (j, t), copies (or with <paramref name="add"/> adds) <paramref name="count"/> values from
    /// the source row to the destination row, where with <paramref name="reverse"/> the source row is (j, length_j − 1 − t):
    /// the map between forward order and the order the reverse direction reads, which is its own inverse.
    /// Rows are <paramref name="sourceStride"/> and <paramref name="destinationStride"/> apart; slice the spans to pick columns.
    /// </summary>
    public void MapRows<T>(ReadOnlySpan<T> source, int sourceStride, Span<T> destination, int destinationStride, int count, bool reverse, bool add)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int t = 0; t < MaxLength; t++)
            for (int j = 0; j < _active[t]; j++)
            {
                ReadOnlySpan<T> from = source.Slice(Row(j, reverse ? _lengths[j] - 1 - t : t) * sourceStride, count);
                Span<T> to = destination.Slice(Row(j, t) * destinationStride, count);
                if (add) TensorPrimitives.Add(to, from, to);
                else from.CopyTo(to);
            }
    }

    private static void Grow(ref int[] array, int length)
    {
        if (array.Length < length) array = new int[length];
    }

    private static void Grow(ref long[] array, int length)
    {
        if (array.Length < length) array = new long[length];
    }
}
