using System.Text;

namespace GruService.Engine.Training;

/// <summary>
/// A <see cref="TrainingCheckpoint"/> on disk: a small binary file written to a temporary name, flushed, then renamed
/// over the previous one, so a crash leaves either the previous checkpoint or the new one, never half of one.
/// Version 2 adds the position inside the epoch in progress after the version-1 fields; a version-1 file, which
/// could only be taken at an epoch's end, still reads, as a checkpoint at that boundary.
/// </summary>
public static class TrainingCheckpointFile
{
    private const int Magic = 0x4B435247; // "GRCK"
    private const int FormatVersion = 2;
    private const int EpochBoundaryVersion = 1;

    public static void Write(string path, TrainingCheckpoint checkpoint)
    {
        string temporary = $"{path}.{Guid.NewGuid():N}.tmp";
        using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write))
        {
            WriteTo(stream, checkpoint);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The checkpoint, or null when there is none. Throws <see cref="InvalidDataException"/> for a damaged file.</summary>
    public static TrainingCheckpoint? Read(string path)
    {
        if (!File.Exists(path)) return null;
        using FileStream stream = File.OpenRead(path);
        return ReadFrom(stream, path);
    }

    /// <summary>The checkpoint in the file format, for storage that keeps it somewhere other than a file (a database row).</summary>
    public static byte[] ToBytes(TrainingCheckpoint checkpoint)
    {
        using var stream = new MemoryStream();
        WriteTo(stream, checkpoint);
        return stream.ToArray();
    }

    /// <summary>The reverse of <see cref="ToBytes"/>. Throws <see cref="InvalidDataException"/> for damaged bytes; <paramref name="source"/> names them in the message.</summary>
    public static TrainingCheckpoint FromBytes(byte[] bytes, string source)
    {
        using var stream = new MemoryStream(bytes, writable: false);
        return ReadFrom(stream, source);
    }

    private static void WriteTo(Stream stream, TrainingCheckpoint checkpoint)
    {
        using var writer = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        writer.Write(Magic);
        writer.Write(FormatVersion);
        writer.Write(checkpoint.CompletedEpochs);
        WriteArray(writer, checkpoint.Parameters);
        WriteArray(writer, checkpoint.FirstMoment);
        WriteArray(writer, checkpoint.SecondMoment);
        writer.Write(checkpoint.OptimizerStep);
        WriteArray(writer, checkpoint.BestParameters);
        writer.Write(checkpoint.BestValidationLoss);
        writer.Write(checkpoint.BestEpoch);
        writer.Write(checkpoint.EpochsWithoutImprovement);
        writer.Write(checkpoint.ElapsedSeconds);
        writer.Write(checkpoint.History.Count);
        foreach (EpochRecord e in checkpoint.History)
        {
            writer.Write(e.Epoch);
            writer.Write(e.TrainLoss);
            writer.Write(e.ValidationLoss ?? double.NaN);
            writer.Write(e.ValidationMetric ?? double.NaN);
            writer.Write(e.Seconds);
            writer.Write(e.LearningRate);
        }
        writer.Write(checkpoint.BatchesDone);
        writer.Write(checkpoint.EpochLossSum);
        writer.Write(checkpoint.EpochExamples);
        writer.Write(checkpoint.EpochSeconds);
    }

    private static TrainingCheckpoint ReadFrom(Stream stream, string source)
    {
        try
        {
            using var reader = new BinaryReader(stream, Encoding.UTF8, leaveOpen: true);
            if (reader.ReadInt32() != Magic)
                throw new InvalidDataException($"{source} is not a training checkpoint.");
            int version = reader.ReadInt32();
            if (version is not (EpochBoundaryVersion or FormatVersion))
                throw new InvalidDataException($"{source} is a training checkpoint of version {version}, which this version does not read.");
            int completed = reader.ReadInt32();
            float[] parameters = ReadArray(reader), first = ReadArray(reader), second = ReadArray(reader);
            long step = reader.ReadInt64();
            float[] best = ReadArray(reader);
            double bestLoss = reader.ReadDouble();
            int bestEpoch = reader.ReadInt32(), stale = reader.ReadInt32();
            double elapsed = reader.ReadDouble();
            var history = new EpochRecord[reader.ReadInt32()];
            for (int i = 0; i < history.Length; i++)
            {
                int epoch = reader.ReadInt32();
                double train = reader.ReadDouble(), validation = reader.ReadDouble(), metric = reader.ReadDouble(), seconds = reader.ReadDouble();
                float rate = reader.ReadSingle();
                history[i] = new EpochRecord(epoch, train, double.IsNaN(validation) ? null : validation, double.IsNaN(metric) ? null : metric, seconds, rate);
            }
            int batchesDone = 0;
            double epochLossSum = 0, epochSeconds = 0;
            long epochExamples = 0;
            if (version >= FormatVersion)
            {
                batchesDone = reader.ReadInt32();
                epochLossSum = reader.ReadDouble();
                epochExamples = reader.ReadInt64();
                epochSeconds = reader.ReadDouble();
            }
            if (first.Length != parameters.Length || second.Length != parameters.Length || best.Length != parameters.Length)
                throw new InvalidDataException($"{source} has arrays of different lengths.");
            if (batchesDone < 0 || epochExamples < 0 || (batchesDone > 0) != (epochExamples > 0))
                throw new InvalidDataException($"{source} has an impossible position inside its epoch.");
            return new TrainingCheckpoint(completed, parameters, first, second, step, best, bestLoss, bestEpoch, stale, history, elapsed,
                batchesDone, epochLossSum, epochExamples, epochSeconds);
        }
        catch (EndOfStreamException)
        {
            throw new InvalidDataException($"{source} ends early.");
        }
    }

    private static void WriteArray(BinaryWriter writer, float[] values)
    {
        writer.Write(values.Length);
        foreach (float v in values) writer.Write(v);
    }

    private static float[] ReadArray(BinaryReader reader)
    {
        int length = reader.ReadInt32();
        if (length < 0 || length > reader.BaseStream.Length / 4) throw new InvalidDataException("A checkpoint array length is out of range.");
        var values = new float[length];
        for (int i = 0; i < length; i++) values[i] = reader.ReadSingle();
        return values;
    }
}
