namespace GruService.Engine.Kernels;

/// <summary>
/// A weight matrix W [outputs, inputs] (PyTorch layout) and its bias, packed once into the layout <see cref="Gemm"/>
/// reads: column panels of <see cref="PanelWidth"/> outputs, each panel k-major (row k of a panel holds
/// W[panel·16 + 0..15, k] side by side), the last panel zero-padded. Immutable and safe to share between threads.
/// </summary>
/// <remarks>
/// In this layout one step of the reduction reads one 64-byte line per panel, so the micro-kernel loads two whole
/// Vector256 (or one Vector512) per k and the hardware prefetcher sees one forward stream per panel. The storage is
/// pinned and 64-byte aligned so that those loads never straddle a cache line.
/// </remarks>
public sealed class PackedWeights
{
    /// <summary>Outputs per panel: two Vector256 or one Vector512 of floats, one cache line.</summary>
    public const int PanelWidth = 16;

    private const int AlignmentFloats = 64 / sizeof(float);

    private readonly float[] _storage;
    private readonly int _offset;

    /// <summary>Packs W [outputs, inputs] row-major; an empty <paramref name="bias"/> means no bias (zeros).</summary>
    public PackedWeights(ReadOnlySpan<float> weight, int outputs, int inputs, ReadOnlySpan<float> bias)
        : this(outputs, inputs)
    {
        if (weight.Length < (long)outputs * inputs)
            throw new ArgumentException($"weight has {weight.Length} values; expected {outputs} × {inputs}.", nameof(weight));
        if (!bias.IsEmpty && bias.Length < outputs)
            throw new ArgumentException($"bias has {bias.Length} values; expected {outputs}.", nameof(bias));
        PackPanels(weight, outputStride: inputs, inputStride: 1, outputs, inputs, Data);
        bias.Slice(0, bias.IsEmpty ? 0 : outputs).CopyTo(Bias);
    }

    private PackedWeights(int outputs, int inputs)
    {
        if (outputs < 1) throw new ArgumentOutOfRangeException(nameof(outputs), outputs, "A weight needs at least one output.");
        if (inputs < 1) throw new ArgumentOutOfRangeException(nameof(inputs), inputs, "A weight needs at least one input.");
        Outputs = outputs;
        Inputs = inputs;
        Panels = PanelCount(outputs);
        long panelled = (long)Panels * PanelWidth;
        long length = panelled * inputs + panelled;
        if (length + AlignmentFloats > Array.MaxLength)
            throw new ArgumentException($"A {outputs} × {inputs} weight is too large to pack.");
        // Pinned so that the alignment computed here stays true; zeroed so that the tail panel's padding is zero.
        _storage = GC.AllocateArray<float>((int)length + AlignmentFloats, pinned: true);
        _offset = AlignmentOffset(_storage);
    }

    /// <summary>N: rows of W, columns of the product.</summary>
    public int Outputs { get; }

    /// <summary>K: columns of W, the reduction length.</summary>
    public int Inputs { get; }

    /// <summary>⌈Outputs / 16⌉.</summary>
    public int Panels { get; }

    /// <summary>[Panels][Inputs][16]: element (j, k) of W at (j / 16)·Inputs·16 + k·16 + j % 16.</summary>
    internal Span<float> Data => _storage.AsSpan(_offset, Panels * Inputs * PanelWidth);

    /// <summary>[Panels·16], zero past <see cref="Outputs"/> (and all zero without a bias).</summary>
    internal Span<float> Bias => _storage.AsSpan(_offset + Panels * Inputs * PanelWidth, Panels * PanelWidth);

    /// <summary>Where <see cref="Data"/> starts in memory (the storage is pinned, so this stays true).</summary>
    internal unsafe nint DataAddress
    {
        get { fixed (float* data = Data) return (nint)data; }
    }

    internal static int PanelCount(int outputs) => (outputs + PanelWidth - 1) / PanelWidth;

    /// <summary>
    /// Packs an outputs × inputs operand whose element (j, k) sits at source[j·outputStride + k·inputStride] into
    /// panels (the padding of the last panel is left as <paramref name="panels"/> had it). W [N, K] row-major has
    /// strides (K, 1); a right operand B [K, N] of C = A·B has strides (1, N).
    /// </summary>
    internal static void PackPanels(ReadOnlySpan<float> source, int outputStride, int inputStride, int outputs, int inputs, Span<float> panels)
    {
        int panelSize = inputs * PanelWidth;
        for (int first = 0; first < outputs; first += PanelWidth)
        {
            Span<float> panel = panels.Slice(first / PanelWidth * panelSize, panelSize);
            int lanes = Math.Min(PanelWidth, outputs - first);
            // k outer, outputs inner: both source layouts are then read along at most 16 short streams, and where
            // the outputs are adjacent in the source (a right operand B [K, N]) each line is one block copy.
            for (int k = 0; k < inputs; k++)
            {
                Span<float> line = panel.Slice(k * PanelWidth, lanes);
                int at = first * outputStride + k * inputStride;
                if (outputStride == 1)
                {
                    source.Slice(at, lanes).CopyTo(line);
                    continue;
                }
                for (int lane = 0; lane < lanes; lane++, at += outputStride)
                    line[lane] = source[at];
            }
        }
    }

    private static unsafe int AlignmentOffset(float[] pinned)
    {
        fixed (float* start = pinned)
        {
            long misalignment = (long)start % 64;
            return misalignment == 0 ? 0 : (int)((64 - misalignment) / sizeof(float));
        }
    }
}
