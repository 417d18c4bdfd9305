using System.Numerics.Tensors;

namespace GruService.Engine.Training.Optimization;

/// <summary>Adam (L2 weight decay added to the gradient, as torch.optim.Adam) or AdamW (decoupled decay, as torch.optim.AdamW).</summary>
public enum OptimizerKind
{
    Adam,
    AdamW,
}

/// <summary>
/// Adam and AdamW over one flat parameter vector, with PyTorch's update rule and defaults
/// (β1 0.9, β2 0.999, ε 1e-8, bias-corrected moments). Its state can be saved and restored for checkpoints.
/// </summary>
public sealed class AdamOptimizer
{
    private readonly float[] _m;
    private readonly float[] _v;

    public AdamOptimizer(int parameterCount, OptimizerKind kind, float weightDecay, float beta1 = 0.9f, float beta2 = 0.999f, float epsilon = 1e-8f)
    {
        if (weightDecay < 0) throw new ArgumentOutOfRangeException(nameof(weightDecay));
        _m = new float[parameterCount];
        _v = new float[parameterCount];
        Kind = kind;
        WeightDecay = weightDecay;
        Beta1 = beta1;
        Beta2 = beta2;
        Epsilon = epsilon;
    }

    public OptimizerKind Kind { get; }
    public float WeightDecay { get; }
    public float Beta1 { get; }
    public float Beta2 { get; }
    public float Epsilon { get; }

    /// <summary>Updates taken so far (the t of the bias correction).</summary>
    public long Step { get; private set; }

    public ReadOnlySpan<float> FirstMoment => _m;
    public ReadOnlySpan<float> SecondMoment => _v;

    /// <summary>One update of <paramref name="parameters"/> from <paramref name="gradient"/> (which Adam's L2 decay modifies in place).</summary>
    public void Update(Span<float> parameters, Span<float> gradient, float learningRate)
    {
        if (parameters.Length != _m.Length || gradient.Length != _m.Length)
            throw new ArgumentException("parameters and gradient must have the optimiser's length.");
        Step++;
        if (WeightDecay > 0)
        {
            if (Kind == OptimizerKind.Adam)
                TensorPrimitives.MultiplyAdd(parameters, WeightDecay, gradient, gradient);
            else
                TensorPrimitives.Multiply(parameters, 1 - learningRate * WeightDecay, parameters);
        }

        float correction1 = 1 - MathF.Pow(Beta1, Step);
        float correction2Sqrt = MathF.Sqrt(1 - MathF.Pow(Beta2, Step));
        float stepSize = learningRate / correction1;
        for (int i = 0; i < parameters.Length; i++)
        {
            float g = gradient[i];
            float m = _m[i] = Beta1 * _m[i] + (1 - Beta1) * g;
            float v = _v[i] = Beta2 * _v[i] + (1 - Beta2) * g * g;
            parameters[i] -= stepSize * m / (MathF.Sqrt(v) / correction2Sqrt + Epsilon);
        }
    }

    /// <summary>Restores a saved state (moments and step count), e.g. from a checkpoint.</summary>
    public void Restore(ReadOnlySpan<float> firstMoment, ReadOnlySpan<float> secondMoment, long step)
    {
        if (firstMoment.Length != _m.Length || secondMoment.Length != _v.Length)
            throw new ArgumentException("The saved moments do not match the optimiser's length.");
        firstMoment.CopyTo(_m);
        secondMoment.CopyTo(_v);
        Step = step;
    }
}
