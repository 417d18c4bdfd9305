using GruService.Engine.Training;

namespace GruService.Engine.Tests.Training;

public sealed class TrainingCheckpointFileTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("gru-checkpoint-").FullName;

    private static TrainingCheckpoint Sample() => new(
        CompletedEpochs: 3,
        Parameters: [1f, -2.5f, 3.25f],
        FirstMoment: [0.1f, 0.2f, 0.3f],
        SecondMoment: [0.01f, 0.02f, 0.03f],
        OptimizerStep: 120,
        BestParameters: [0.5f, 0.5f, 0.5f],
        BestValidationLoss: 0.125,
        BestEpoch: 1,
        EpochsWithoutImprovement: 1,
        History: [new EpochRecord(0, 1.5, 1.25, 0.5, 2.0, 1e-3f), new EpochRecord(1, 1.0, null, null, 2.5, 5e-4f)],
        ElapsedSeconds: 7.5);

    [Fact]
    public void WriteThenRead_GivesBackTheSameCheckpoint()
    {
        string path = Path.Combine(_directory, "checkpoint.bin");
        TrainingCheckpointFile.Write(path, Sample());
        TrainingCheckpoint read = TrainingCheckpointFile.Read(path)!;

        TrainingCheckpoint expected = Sample();
        Assert.Equal(expected.CompletedEpochs, read.CompletedEpochs);
        Assert.Equal(expected.Parameters, read.Parameters);
        Assert.Equal(expected.FirstMoment, read.FirstMoment);
        Assert.Equal(expected.SecondMoment, read.SecondMoment);
        Assert.Equal(expected.OptimizerStep, read.OptimizerStep);
        Assert.Equal(expected.BestParameters, read.BestParameters);
        Assert.Equal(expected.BestValidationLoss, read.BestValidationLoss);
        Assert.Equal(expected.BestEpoch, read.BestEpoch);
        Assert.Equal(expected.EpochsWithoutImprovement, read.EpochsWithoutImprovement);
        Assert.Equal(expected.History, read.History);
        Assert.Equal(expected.ElapsedSeconds, read.ElapsedSeconds);
        Assert.Equal(["checkpoint.bin"], Directory.GetFiles(_directory).Select(Path.GetFileName));
    }

    [Fact]
    public void Read_ReturnsNull_WhenThereIsNoCheckpoint() =>
        Assert.Null(TrainingCheckpointFile.Read(Path.Combine(_directory, "none.bin")));

    [Fact]
    public void Read_RefusesATruncatedOrForeignFile()
    {
        string path = Path.Combine(_directory, "checkpoint.bin");
        TrainingCheckpointFile.Write(path, Sample());
        byte[] whole = File.ReadAllBytes(path);
        File.WriteAllBytes(path, whole[..(whole.Length / 2)]);
        Assert.Throws<InvalidDataException>(() => TrainingCheckpointFile.Read(path));
        File.WriteAllBytes(path, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        Assert.Throws<InvalidDataException>(() => TrainingCheckpointFile.Read(path));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
