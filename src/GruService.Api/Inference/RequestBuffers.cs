using System.Buffers;

namespace GruService.Api.Inference;

/// <summary>
/// The pools of the buffers an inference request holds for its whole life: its body, its parsed sequences and its
/// answers. The engine's <see cref="GruService.Engine.Workspace"/> pools, sized for the forward passes running at once,
/// keep 24 arrays of a size on two cores; with 64 requests in flight the rest were allocated and dropped each time
/// (measured under the load test's load: about 1.9 KB of such arrays a request, of ~12 KB allocated in all).
/// </summary>
/// <remarks>
/// Every request in flight holds one of each, so these keep as many arrays of a size as requests are commonly in
/// flight; only small arrays are kept, so what they can retain stays bounded (a few MB) however large the requests were.
/// </remarks>
internal static class RequestBuffers
{
    /// <summary>Arrays kept per size class: the requests in flight at once under a load balancer's usual concurrency.</summary>
    public const int ArraysPerSize = 128;

    /// <summary>Elements of the largest array kept: a body of 16 KB, or 16,384 input values.</summary>
    public const int LargestPooled = 1 << 14;

    public static ArrayPool<float> Floats { get; } = CreatePool<float>();
    public static ArrayPool<int> Ints { get; } = CreatePool<int>();
    public static ArrayPool<byte> Bytes { get; } = CreatePool<byte>();

    /// <summary>A pool as these are made (the tests check a fresh one, which no other test touches).</summary>
    internal static ArrayPool<T> CreatePool<T>() => ArrayPool<T>.Create(LargestPooled, ArraysPerSize);
}
