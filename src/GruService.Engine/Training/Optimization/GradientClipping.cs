using System.Numerics.Tensors;

namespace GruService.Engine.Training.Optimization;

public static class GradientClipping
{
    /// <summary>
    /// Scales the gradient so its global L2 norm is at most <paramref name="maxNorm"/>, as
    /// torch.nn.utils.clip_grad_norm_ does. Returns the norm before clipping.
    /// </summary>
    public static float ClipByGlobalNorm(Span<float> gradient, float maxNorm)
    {
        // Summed in double: the norm of ~10^6 float squares loses digits in float.
        double sum = 0;
        foreach (float g in gradient) sum += (double)g * g;
        float norm = (float)Math.Sqrt(sum);
        if (maxNorm > 0 && norm > maxNorm)
            TensorPrimitives.Multiply(gradient, maxNorm / (norm + 1e-6f), gradient);
        return norm;
    }
}
