using System.Numerics;

namespace GruService.Engine.Training;

/// <summary>The elementwise loss of a forecast, as the torch.nn loss of the same name.</summary>
public enum ForecastLoss
{
    /// <summary>(y − t)², torch.nn.MSELoss.</summary>
    MeanSquaredError,

    /// <summary>½(y − t)² where |y − t| &lt; δ, else δ(|y − t| − ½δ): torch.nn.HuberLoss.</summary>
    Huber,

    /// <summary>|y − t|, torch.nn.L1Loss.</summary>
    MeanAbsoluteError,
}

/// <summary>What one mini-batch (or shard) is trained towards: forecast targets with their loss, or class labels.</summary>
public readonly struct TrainingTargets<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    private TrainingTargets(GruTask task, ReadOnlyMemory<T> values, ForecastLoss loss, T huberDelta, ReadOnlyMemory<int> labels, ReadOnlyMemory<T> classWeights)
    {
        Task = task;
        Values = values;
        Loss = loss;
        HuberDelta = huberDelta;
        Labels = labels;
        ClassWeights = classWeights;
    }

    /// <param name="values">Per sequence, in input order, horizon × output_size values in normalised target space ([horizon][output_size] row-major).</param>
    /// <param name="loss">The elementwise loss; each sequence's loss is its mean over the horizon × output_size values.</param>
    /// <param name="huberDelta">δ of <see cref="ForecastLoss.Huber"/>; 1 when not given, as torch.nn.HuberLoss.</param>
    public static TrainingTargets<T> Forecast(ReadOnlyMemory<T> values, ForecastLoss loss = ForecastLoss.MeanSquaredError, T? huberDelta = null)
    {
        T delta = huberDelta ?? T.One;
        if (!(delta > T.Zero) || !T.IsFinite(delta))
            throw new ArgumentOutOfRangeException(nameof(huberDelta), "The Huber delta must be positive and finite.");
        if (!Enum.IsDefined(loss))
            throw new ArgumentOutOfRangeException(nameof(loss));
        return new TrainingTargets<T>(GruTask.Forecast, values, loss, delta, default, default);
    }

    /// <param name="labels">Per sequence, in input order, the index of its class.</param>
    /// <param name="classWeights">Per class, the weight of its sequences' loss, as torch.nn.CrossEntropyLoss(weight=...,
    /// reduction='sum'); empty (or a null array) weighs every class 1.</param>
    public static TrainingTargets<T> Classify(ReadOnlyMemory<int> labels, ReadOnlyMemory<T> classWeights = default) =>
        new(GruTask.Classify, default, default, T.One, labels, classWeights);

    public GruTask Task { get; }

    /// <summary>Forecast targets; empty for classification.</summary>
    public ReadOnlyMemory<T> Values { get; }

    public ForecastLoss Loss { get; }
    public T HuberDelta { get; }

    /// <summary>Class indices; empty for forecasts.</summary>
    public ReadOnlyMemory<int> Labels { get; }

    /// <summary>Per-class loss weights; empty means every class weighs 1.</summary>
    public ReadOnlyMemory<T> ClassWeights { get; }
}

/// <summary>How a training pass differs from inference.</summary>
/// <param name="Dropout">
/// Probability p of zeroing each input value of every layer above the first (as nn.GRU(dropout=p)) and of the head;
/// kept values are scaled by 1/(1 − p). 0 turns dropout off.
/// </param>
public readonly record struct TrainingOptions(double Dropout = 0);
