namespace GruService.Fuzz;

/// <summary>
/// What the current iteration is doing (mutating, parsing in-process, waiting for an HTTP answer, and with which
/// input), so a hang report says where it hung and whether the service or the fuzzer was slow.
/// </summary>
public sealed class IterationStage
{
    private volatile string _current = "starting";
    private volatile byte[]? _input;

    public string Current => _current;

    /// <summary>The input being sent or parsed, for the reproducer of a hang.</summary>
    public byte[]? Input => _input;

    public void Set(string stage, byte[]? input = null)
    {
        _current = stage;
        _input = input;
    }
}
