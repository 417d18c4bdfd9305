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
        ElapsedSeconds: 7.5,
        BatchesDone: 17,
        EpochLossSum: 123.456,
        EpochExamples: 544,
        EpochSeconds: 1.25);

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
        Assert.Equal(expected.BatchesDone, read.BatchesDone);
        Assert.Equal(expected.EpochLossSum, read.EpochLossSum);
        Assert.Equal(expected.EpochExamples, read.EpochExamples);
        Assert.Equal(expected.EpochSeconds, read.EpochSeconds);
        Assert.Equal(["checkpoint.bin"], Directory.GetFiles(_directory).Select(Path.GetFileName));
    }

    [Fact]
    public void ToBytesThenFromBytes_GivesBackTheSameMidEpochPosition()
    {
        TrainingCheckpoint read = TrainingCheckpointFile.FromBytes(TrainingCheckpointFile.ToBytes(Sample()), "the sample");

        Assert.True(read.IsMidEpoch);
        Assert.Equal((17, 123.456, 544L, 1.25), (read.BatchesDone, read.EpochLossSum, read.EpochExamples, read.EpochSeconds));
        Assert.Equal(Sample().Parameters, read.Parameters);
    }

    [Fact]
    public void Read_AcceptsAVersion1File_AsACheckpointAtAnEpochBoundary()
    {
        // Version 1's layout, as files written before the position inside an epoch was recorded have it.
        string path = Path.Combine(_directory, "version1.bin");
        using (var writer = new BinaryWriter(File.Create(path)))
        {
            writer.Write(0x4B435247);
            writer.Write(1);
            writer.Write(2); // completed epochs
            foreach (float[] array in (float[][])[[1f, 2f], [0.1f, 0.2f], [0.01f, 0.02f]])
            {
                writer.Write(array.Length);
                foreach (float v in array) writer.Write(v);
            }
            writer.Write(64L); // optimiser step
            writer.Write(2);
            writer.Write(1.5f);
            writer.Write(2.5f);
            writer.Write(0.75); // best validation loss
            writer.Write(1); // best epoch
            writer.Write(0); // epochs without improvement
            writer.Write(3.5); // elapsed seconds
            writer.Write(1); // history
            writer.Write(0);
            writer.Write(0.9);
            writer.Write(0.8);
            writer.Write(double.NaN);
            writer.Write(1.75);
            writer.Write(1e-3f);
        }

        TrainingCheckpoint read = TrainingCheckpointFile.Read(path)!;

        Assert.Equal(2, read.CompletedEpochs);
        Assert.Equal([1f, 2f], read.Parameters);
        Assert.Equal([0.01f, 0.02f], read.SecondMoment);
        Assert.Equal(64, read.OptimizerStep);
        Assert.Equal([1.5f, 2.5f], read.BestParameters);
        Assert.Equal(3.5, read.ElapsedSeconds);
        Assert.Equal([new EpochRecord(0, 0.9, 0.8, null, 1.75, 1e-3f)], read.History);
        Assert.False(read.IsMidEpoch);
        Assert.Equal((0, 0.0, 0L, 0.0), (read.BatchesDone, read.EpochLossSum, read.EpochExamples, read.EpochSeconds));
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
        // Cut inside the position in the epoch, the last thing in the file.
        File.WriteAllBytes(path, whole[..^4]);
        Assert.Throws<InvalidDataException>(() => TrainingCheckpointFile.Read(path));
        File.WriteAllBytes(path, [1, 2, 3, 4, 5, 6, 7, 8, 9]);
        Assert.Throws<InvalidDataException>(() => TrainingCheckpointFile.Read(path));
        Assert.Throws<InvalidDataException>(() => TrainingCheckpointFile.FromBytes(whole[..^1], "the bytes"));
    }

    [Fact]
    public void Read_RefusesAnUnknownVersion_OrAnImpossiblePositionInTheEpoch()
    {
        byte[] whole = TrainingCheckpointFile.ToBytes(Sample());
        byte[] later = [.. whole];
        BitConverter.TryWriteBytes(later.AsSpan(4, 4), 3);
        Assert.Throws<InvalidDataException>(() => TrainingCheckpointFile.FromBytes(later, "version 3"));

        // Batches done but no examples seen cannot come from a run.
        byte[] impossible = TrainingCheckpointFile.ToBytes(Sample() with { EpochExamples = 0 });
        Assert.Throws<InvalidDataException>(() => TrainingCheckpointFile.FromBytes(impossible, "no examples"));
        byte[] negative = TrainingCheckpointFile.ToBytes(Sample() with { BatchesDone = -1 });
        Assert.Throws<InvalidDataException>(() => TrainingCheckpointFile.FromBytes(negative, "negative batches"));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);
}
