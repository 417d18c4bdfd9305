using System.Buffers;
using GruService.Engine;

namespace GruService.Api.Inference;

/// <summary>
/// The pools of the buffers an inference request holds for its whole life: its body, its parsed sequences and its
/// answers. The engine's <see cref="Workspace"/> pools, sized for the forward passes running at once, keep 24 arrays of
/// a size on two cores; with 64 requests in flight the rest were allocated and dropped each time (measured under the
/// load test's load: about 1.9 KB of such arrays a request, of ~12 KB allocated in all).
/// </summary>
/// <remarks>
/// Every request in flight holds one of each, so small arrays (up to <see cref="LargestPooled"/> elements) are kept
/// <see cref="ArraysPerSize"/> to a size, as many as requests are commonly in flight, which bounds what they retain to a
/// few MB. A larger array is lent by the engine's pool as before, which keeps fewer of each size.
/// </remarks>
internal static class RequestBuffers
{
    /// <summary>Small arrays kept per size class: the requests in flight at once under a load balancer's usual concurrency.</summary>
    public const int ArraysPerSize = 128;

    /// <summary>Elements of the largest array kept here: a body of 16 KB, or 16,384 input values.</summary>
    public const int LargestPooled = 1 << 14;

    public static ArrayPool<float> Floats { get; } = CreatePool(Workspace.Floats);
    public static ArrayPool<int> Ints { get; } = CreatePool(Workspace.Ints);
    public static ArrayPool<byte> Bytes { get; } = CreatePool(Workspace.Bytes);

    /// <summary>A pool as these are made, larger arrays going to <paramref name="large"/> (the tests check fresh ones).</summary>
    internal static ArrayPool<T> CreatePool<T>(ArrayPool<T> large) => new RequestPool<T>(large);

    private sealed class RequestPool<T>(ArrayPool<T> large) : ArrayPool<T>
    {
        private readonly ArrayPool<T> _small = Create(LargestPooled, ArraysPerSize);

        public override T[] Rent(int minimumLength) =>
            minimumLength <= LargestPooled ? _small.Rent(minimumLength) : large.Rent(minimumLength);

        // The small pool lends lengths up to LargestPooled only, the large one longer arrays only.
        public override void Return(T[] array, bool clearArray = false)
        {
            ArgumentNullException.ThrowIfNull(array);
            if (array.Length <= LargestPooled) _small.Return(array, clearArray);
            else large.Return(array, clearArray);
        }
    }
}
