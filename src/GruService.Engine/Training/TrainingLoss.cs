using System.Numerics;
using System.Numerics.Tensors;

namespace GruService.Engine.Training;

/// <summary>The per-sequence losses of the two heads, each with its gradient w.r.t. the head's outputs.</summary>
internal static class TrainingLoss
{
    /// <summary>
    /// The mean over the values of the elementwise <paramref name="kind"/> loss (PyTorch's reduction='mean' for one sample);
    /// writes ∂loss/∂prediction to <paramref name="gradient"/>. Where the loss has a kink (0 for MAE) the gradient is
    /// PyTorch's: sign(0) = 0.
    /// </summary>
    public static T Forecast<T>(ReadOnlySpan<T> predictions, ReadOnlySpan<T> targets, ForecastLoss kind, T delta, Span<T> gradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T count = T.CreateTruncating(predictions.Length), half = T.CreateTruncating(0.5), two = T.CreateTruncating(2);
        T sum = T.Zero;
        for (int i = 0; i < predictions.Length; i++)
        {
            T error = predictions[i] - targets[i], size = T.Abs(error);
            T sign = error > T.Zero ? T.One : error < T.Zero ? -T.One : T.Zero;
            T slope;
            switch (kind)
            {
                case ForecastLoss.MeanSquaredError:
                    sum += error * error;
                    slope = two * error;
                    break;
                case ForecastLoss.MeanAbsoluteError:
                    sum += size;
                    slope = sign;
                    break;
                default:
                    if (size < delta)
                    {
                        sum += half * error * error;
                        slope = error;
                    }
                    else
                    {
                        sum += delta * (size - half * delta);
                        slope = delta * sign;
                    }
                    break;
            }
            gradient[i] = slope / count;
        }
        return sum / count;
    }

    /// <summary>
    /// Softmax cross-entropy of one sequence, weighed: <paramref name="weight"/> · (logsumexp(y) − y[label]), with
    /// logsumexp taken around the largest logit so that no probability underflows into the loss. Writes the softmax to
    /// <paramref name="probabilities"/> and weight · (p − onehot(label)) to <paramref name="gradient"/>.
    /// </summary>
    public static T CrossEntropy<T>(ReadOnlySpan<T> logits, int label, T weight, Span<T> probabilities, Span<T> gradient)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        TensorPrimitives.SoftMax(logits, probabilities);
        T max = TensorPrimitives.Max(logits), sum = T.Zero;
        foreach (T y in logits) sum += T.Exp(y - max);
        T loss = weight * (max + T.Log(sum) - logits[label]);
        TensorPrimitives.Multiply(probabilities, weight, gradient);
        gradient[label] -= weight;
        return loss;
    }
}
