using System.Buffers;

namespace GruService.Api.Inference;

/// <summary>
/// The sequences of one request, back to back in a pooled buffer as the engine takes them. Dispose returns the buffers.
/// </summary>
public sealed class InputBatch : IDisposable
{
    private float[] _values;
    private int[] _lengths;

    public InputBatch(int valueCapacity = 1024, int sequenceCapacity = 16)
    {
        _values = RequestBuffers.Floats.Rent(valueCapacity);
        _lengths = RequestBuffers.Ints.Rent(sequenceCapacity);
    }

    public int ValueCount { get; private set; }
    public int SequenceCount { get; private set; }
    public int TotalSteps { get; private set; }
    public int MaxLength { get; private set; }

    public ReadOnlySpan<float> Values => _values.AsSpan(0, ValueCount);
    public ReadOnlySpan<int> Lengths => _lengths.AsSpan(0, SequenceCount);

    public void AddValue(float value)
    {
        if (ValueCount == _values.Length) Grow(ref _values, RequestBuffers.Floats);
        _values[ValueCount++] = value;
    }

    public void EndSequence(int steps)
    {
        if (SequenceCount == _lengths.Length) Grow(ref _lengths, RequestBuffers.Ints);
        _lengths[SequenceCount++] = steps;
        TotalSteps += steps;
        MaxLength = Math.Max(MaxLength, steps);
    }

    /// <summary>
    /// Empties the batch but keeps its buffers, so a reader that gave up half-way can start again without renting anew.
    /// </summary>
    public void Clear()
    {
        ValueCount = 0;
        SequenceCount = 0;
        TotalSteps = 0;
        MaxLength = 0;
    }

    public void Dispose()
    {
        RequestBuffers.Floats.Return(_values);
        RequestBuffers.Ints.Return(_lengths);
        _values = [];
        _lengths = [];
    }

    private static void Grow<T>(ref T[] array, ArrayPool<T> pool)
    {
        T[] larger = pool.Rent(array.Length * 2);
        array.CopyTo(larger, 0);
        pool.Return(array);
        array = larger;
    }
}
