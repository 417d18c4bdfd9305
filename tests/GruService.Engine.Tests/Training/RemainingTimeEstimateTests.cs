using GruService.Engine.Training;

namespace GruService.Engine.Tests.Training;

public class RemainingTimeEstimateTests
{
    [Fact]
    public void AfterAResume_TheEstimateKeepsThePaceOfTheRunsBefore_NotOfTheFirstSlowBatches()
    {
        // 1000 updates took 1000 s before the restart; the new process's first 2 took 10 s (a cold start).
        TimeSpan? remaining = GruTrainer.EstimateRemaining(secondsBefore: 1000, stepsBefore: 1000, secondsThisRun: 10, stepsThisRun: 2, stepsLeft: 1000);

        // From this run alone it would be 5000 s.
        Assert.NotNull(remaining);
        Assert.InRange(remaining.Value.TotalSeconds, 1000, 1010);
    }

    [Fact]
    public void WithoutARunBefore_TheEstimateIsThisRunsTimePerUpdateTimesTheUpdatesLeft()
    {
        Assert.Equal(300, GruTrainer.EstimateRemaining(0, 0, secondsThisRun: 20, stepsThisRun: 10, stepsLeft: 150)!.Value.TotalSeconds, 6);
    }

    [Fact]
    public void BeforeThisRunsFirstUpdate_ThereIsNoEstimate_AndNothingLeftIsZero()
    {
        Assert.Null(GruTrainer.EstimateRemaining(100, 50, secondsThisRun: 1, stepsThisRun: 0, stepsLeft: 10));
        Assert.Equal(TimeSpan.Zero, GruTrainer.EstimateRemaining(100, 50, secondsThisRun: 1, stepsThisRun: 5, stepsLeft: 0));
    }
}
