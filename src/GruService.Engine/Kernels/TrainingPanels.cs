namespace GruService.Engine.Kernels;

/// <summary>
/// A right operand in <see cref="Gemm"/>'s panel layout (see <see cref="PackedWeights"/>), re-packed in place: training
/// weights change with every optimiser step, so a pass packs each weight once when it starts using it and then runs
/// every time step's product against the packed copy. The memory is kept and grows only for a larger operand, so
/// re-packing allocates nothing. Not thread-safe: one per pass.
/// </summary>
internal sealed class TrainingPanels
{
    private readonly AlignedFloats _panels = new(), _bias = new();
    private bool _hasBias;

    /// <summary>N: columns of the product.</summary>
    public int Outputs { get; private set; }

    /// <summary>K: the reduction length.</summary>
    public int Inputs { get; private set; }

    /// <summary>W [outputs, inputs] row-major (PyTorch's layout), for c = a · Wᵀ + bias; an empty bias adds nothing.</summary>
    public void PackTransposed(ReadOnlySpan<float> weight, int outputs, int inputs, ReadOnlySpan<float> bias)
    {
        if (weight.Length < (long)outputs * inputs || (!bias.IsEmpty && bias.Length < outputs))
            throw new ArgumentException("A span is shorter than the matrix shape given for it.");
        PackedWeights.PackPanels(weight, outputStride: inputs, inputStride: 1, outputs, inputs, Reserve(outputs, inputs));
        _hasBias = !bias.IsEmpty;
        if (!_hasBias) return;
        Span<float> padded = _bias.Reserve(PackedWeights.PanelCount(outputs) * PackedWeights.PanelWidth);
        padded.Clear();
        bias.Slice(0, outputs).CopyTo(padded);
    }

    /// <summary>B [inputs, outputs] row-major, for c = a · B.</summary>
    public void Pack(ReadOnlySpan<float> b, int inputs, int outputs)
    {
        if (b.Length < (long)outputs * inputs) throw new ArgumentException("A span is shorter than the matrix shape given for it.");
        TrainingGemm.PackRowMajor(b, inputs, outputs, Reserve(outputs, inputs));
        _hasBias = false;
    }

    /// <summary>
    /// c = bias + a · (the packed operand) for a [rows, Inputs] with rows <paramref name="aStride"/> apart and c
    /// [rows, Outputs] with rows <paramref name="cStride"/> apart. Bit-identical to <see cref="Gemm"/> on the same weight.
    /// </summary>
    public void Multiply(ReadOnlySpan<float> a, int rows, int aStride, Span<float> c, int cStride, GemmSettings settings)
    {
        if (Outputs == 0) throw new InvalidOperationException("Nothing has been packed.");
        if (rows == 0) return;
        ReadOnlySpan<float> bias = _hasBias ? _bias.Span.Slice(0, PackedWeights.PanelCount(Outputs) * PackedWeights.PanelWidth) : default;
        Gemm.Run(new GemmOperands(a, rows, aStride, Panels, Inputs, Outputs, bias, GemmStart.FromBias, c, cStride), settings);
    }

    private ReadOnlySpan<float> Panels => _panels.Span.Slice(0, PackedWeights.PanelCount(Outputs) * PackedWeights.PanelWidth * Inputs);

    /// <summary>Room for an outputs × inputs operand's panels, the last panel's padding lanes zeroed (the packers leave them alone).</summary>
    private Span<float> Reserve(int outputs, int inputs)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(outputs, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(inputs, 1);
        int panelSize = inputs * PackedWeights.PanelWidth;
        Span<float> panels = _panels.Reserve((long)PackedWeights.PanelCount(outputs) * panelSize);
        if (outputs % PackedWeights.PanelWidth != 0)
            panels.Slice((PackedWeights.PanelCount(outputs) - 1) * panelSize, panelSize).Clear();
        Outputs = outputs;
        Inputs = inputs;
        return panels;
    }
}

/// <summary>
/// A grow-only float buffer that starts on a 64-byte boundary, so that the kernels' 64-byte panel rows never straddle
/// two cache lines. Pinned, so the alignment computed once stays true.
/// </summary>
internal sealed class AlignedFloats
{
    private const int AlignmentFloats = 64 / sizeof(float);
    private float[] _storage = [];
    private int _offset, _length;

    /// <summary>All of the buffer (at least what the last <see cref="Reserve"/> asked for).</summary>
    public Span<float> Span => _storage.AsSpan(_offset, _length);

    /// <summary>A span of <paramref name="length"/> values, growing the buffer if needed (old contents are then lost).</summary>
    public Span<float> Reserve(long length)
    {
        if (length + AlignmentFloats > Array.MaxLength) throw new ArgumentException("The operand is too large.", nameof(length));
        if (length > _length)
        {
            _storage = GC.AllocateArray<float>((int)length + AlignmentFloats, pinned: true);
            _offset = AlignmentOffset(_storage);
            _length = (int)length;
        }
        return _storage.AsSpan(_offset, (int)length);
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
