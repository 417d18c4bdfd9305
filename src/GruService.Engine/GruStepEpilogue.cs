using GruService.Engine.Kernels;
using GruService.Engine.Training;

namespace GruService.Engine;

/// <summary>
/// The gate math of one time step, run by <see cref="Gemm"/> on the rows of the recurrent product it has just
/// finished: on the core that computed them, while they are still in its cache, and split over two cores as the
/// product is. Each finished row becomes that sequence's new hidden state and is written to the layer's output.
/// </summary>
/// <remarks>
/// One instance per thread (kept with the thread's packed batch), pointed at the pass's buffers by
/// <see cref="Begin"/> and at the step by <see cref="Step"/>: a forward pass allocates nothing. Rows are sequences in
/// packed order, so row j's input gates are row <c>StepOffset(t) + j</c> of the input projection.
/// </remarks>
internal sealed class GruStepEpilogue : IGemmRowEpilogue
{
    /// <summary>What the rows of the product just finished hold, and so which half of the gate math runs on them.</summary>
    public enum Phase
    {
        /// <summary>W_h h + b_h, all three gates (PyTorch's form): the whole step.</summary>
        LinearBeforeReset,

        /// <summary>W_hr h + b_hr and W_hz h + b_hz (reset-before-matmul form): r and z, and r ⊙ h for the next product.</summary>
        ResetGate,

        /// <summary>W_hn (r ⊙ h) + b_hn (reset-before-matmul form): n and the new state.</summary>
        Update,
    }

    private float[] _inputGates = [], _scratch = [], _state = [], _layerOut = [];
    private PackedBatch _plan = null!;
    private int _hidden, _width, _direction, _time, _firstInputRow, _rows;
    private Phase _phase;

    /// <summary>
    /// Points the epilogue at one direction's pass. <paramref name="scratch"/> holds, per active row, the recurrent
    /// product: [3H] in PyTorch's form; in the reset-before form r and z [2H] for all rows, then r ⊙ h [H] for all
    /// rows, then W_hn (r ⊙ h) + b_hn [H] for all rows.
    /// </summary>
    public void Begin(float[] inputGates, float[] scratch, float[] state, float[] layerOut, PackedBatch plan, int hidden, int width, int direction)
    {
        (_inputGates, _scratch, _state, _layerOut, _plan) = (inputGates, scratch, state, layerOut, plan);
        (_hidden, _width, _direction) = (hidden, width, direction);
    }

    /// <summary>The next product's rows are step <paramref name="time"/>'s <paramref name="rows"/> active sequences, in this phase.</summary>
    public void Step(int time, int rows, Phase phase)
    {
        (_time, _rows, _phase) = (time, rows, phase);
        _firstInputRow = _plan.StepOffset(time);
    }

    /// <summary>Drops the references to the pass's (rented) buffers, so that a thread's epilogue does not keep them alive.</summary>
    public void End()
    {
        _inputGates = _scratch = _state = _layerOut = [];
        _plan = null!;
    }

    public void RowsDone(int first, int count)
    {
        int hidden = _hidden, gates = 3 * hidden, rows = _rows;
        for (int j = first; j < first + count; j++)
        {
            ReadOnlySpan<float> inputGates = _inputGates.AsSpan((_firstInputRow + j) * gates, gates);
            Span<float> h = _state.AsSpan(j * hidden, hidden);
            switch (_phase)
            {
                case Phase.LinearBeforeReset:
                    GruCell.StepLinearBeforeReset(inputGates, _scratch.AsSpan(j * gates, gates), h);
                    break;
                case Phase.ResetGate:
                    GruCell.ResetGate(inputGates, _scratch.AsSpan(j * 2 * hidden, 2 * hidden), h, ResetHidden(j, rows));
                    continue; // h is unchanged until the update
                default:
                    GruCell.UpdateAfterReset(inputGates, _scratch.AsSpan(j * 2 * hidden + hidden, hidden),
                        _scratch.AsSpan(rows * 3 * hidden + j * hidden, hidden), h);
                    break;
            }
            int time = _direction == 0 ? _time : _plan.Length(j) - 1 - _time;
            h.CopyTo(_layerOut.AsSpan(_plan.Row(j, time) * _width + _direction * hidden, hidden));
        }
    }

    private Span<float> ResetHidden(int row, int rows) => _scratch.AsSpan(rows * 2 * _hidden + row * _hidden, _hidden);
}
