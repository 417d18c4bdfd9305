namespace GruService.Engine.Training.Optimization;

public enum ScheduleKind
{
    Constant,
    /// <summary>Multiply by Gamma every StepEpochs epochs (torch StepLR).</summary>
    Step,
    /// <summary>Cosine annealing from the base rate to MinLearningRate over the run (torch CosineAnnealingLR).</summary>
    Cosine,
}

/// <summary>
/// The learning rate at each update: an optional linear warm-up over the first updates, then a constant, step or
/// cosine schedule over epochs. Depends only on the update index, so a resumed run continues the same curve.
/// </summary>
public sealed record LearningRateSchedule(
    float BaseLearningRate,
    ScheduleKind Kind = ScheduleKind.Constant,
    int WarmupSteps = 0,
    int StepEpochs = 10,
    float Gamma = 0.1f,
    float MinLearningRate = 0f)
{
    /// <param name="epoch">Zero-based epoch of the update.</param>
    /// <param name="epochs">Epochs in the run.</param>
    /// <param name="step">Zero-based update index over the whole run (for the warm-up).</param>
    /// <param name="stepsPerEpoch">Updates per epoch (for a smooth cosine).</param>
    public float At(int epoch, int epochs, long step, int stepsPerEpoch)
    {
        float rate = Kind switch
        {
            ScheduleKind.Step => BaseLearningRate * MathF.Pow(Gamma, epoch / Math.Max(1, StepEpochs)),
            ScheduleKind.Cosine => Cosine(epoch, epochs, step, stepsPerEpoch),
            _ => BaseLearningRate,
        };
        if (step < WarmupSteps)
            rate *= (step + 1f) / WarmupSteps;
        return rate;
    }

    private float Cosine(int epoch, int epochs, long step, int stepsPerEpoch)
    {
        double total = Math.Max(1, (double)epochs * Math.Max(1, stepsPerEpoch));
        double progress = Math.Min(1, step / total);
        return (float)(MinLearningRate + (BaseLearningRate - MinLearningRate) * 0.5 * (1 + Math.Cos(Math.PI * progress)));
    }
}
