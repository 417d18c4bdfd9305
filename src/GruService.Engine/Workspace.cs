using System.Buffers;

namespace GruService.Engine;

/// <summary>
/// The pools that forward passes, and the service's per-request buffers, take their scratch arrays from.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="ArrayPool{T}.Shared"/> keeps arrays per thread as well as per core, so every thread that ever ran a large
/// pass keeps that pass's arrays. Under CPU contention the thread pool adds threads (its work items wait), and measured
/// with 10 hidden-256 models under load, a minute of contention took the service from 24 to 40 threads and its managed
/// heap from 64 to 288 MB, which stayed after the contention ended.
/// </para>
/// <para>
/// These pools have no per-thread part and keep at most <see cref="ArraysPerSize"/> arrays of each size, so what they
/// retain follows how many passes run at once (which the service bounds), not how many threads ran one. An array
/// larger than <see cref="LargestPooled"/> elements is allocated for its pass and left to the collector.
/// </para>
/// </remarks>
public static class Workspace
{
    /// <summary>Arrays kept per size class: room for the arrays of a few passes per core at once.</summary>
    public static readonly int ArraysPerSize = 8 * Environment.ProcessorCount + 8;

    /// <summary>Elements of the largest array kept (larger ones are still lent, but not kept).</summary>
    public const int LargestPooled = 1 << 26;

    public static ArrayPool<float> Floats { get; } = ArrayPool<float>.Create(LargestPooled, ArraysPerSize);
    public static ArrayPool<int> Ints { get; } = ArrayPool<int>.Create(LargestPooled, ArraysPerSize);
    public static ArrayPool<byte> Bytes { get; } = ArrayPool<byte>.Create(LargestPooled, ArraysPerSize);
}
