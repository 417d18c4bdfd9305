using System.Diagnostics;
using System.Text.Json.Nodes;
using GruService.Engine.Training;
using Microsoft.Data.Sqlite;

namespace GruService.Api.Tests.Training;

/// <summary>The service as a real process, stopped with SIGTERM in the middle of a training epoch and started again.</summary>
public sealed class ShutdownCheckpointTests : IDisposable
{
    private const int Epochs = 3;
    private const int TimeoutSeconds = 30;
    private readonly string _root = Directory.CreateTempSubdirectory("gru-shutdown-checkpoint-").FullName;
    private readonly ServiceProcess _service;

    public ShutdownCheckpointTests() => _service = new ServiceProcess(_root,
        "--Training:ProgressIntervalSeconds=0", "--Shutdown:DrainDelaySeconds=0", $"--Shutdown:TimeoutSeconds={TimeoutSeconds}",
        "--Serilog:MinimumLevel:Override:GruService.Api.Training=Information");

    [Fact]
    public async Task SigtermMidEpoch_CheckpointsThatBatch_AndTheJobResumesFromItAtTheNextStart()
    {
        HttpClient client = _service.Client;
        await _service.StartAsync();
        JsonObject request = TrainingRequests.Forecast("mid-epoch", Epochs, TrainingRequests.Sine(4000));
        request["hyperparameters"]!["batch_size"] = 16; // about 200 batches an epoch
        string id = await TrainingRequests.StartAsync(client, request);
        JsonObject running = await TrainingRequests.WaitAsync(client, id, j =>
            j["progress"] is JsonObject p && (int)p["epoch"]! == 2 && (int)p["batch"]! >= 5 && (int)p["batch"]! <= (int)p["batches"]! / 2, seconds: 120);
        int batches = (int)running["progress"]!["batches"]!, seenBatch = (int)running["progress"]!["batch"]!;

        var stopping = Stopwatch.StartNew();
        _service.Terminate();
        await _service.Process!.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(TimeoutSeconds + 10));
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(TimeoutSeconds), $"stopping took {stopping.Elapsed}");
        Assert.True(_service.Process.ExitCode == 0, $"exit code {_service.Process.ExitCode}:\n{_service.Output}");
        string shutdownLog = _service.Output;

        // The job was stopped where it was, not at its last epoch's end. (Usually in epoch 2, where it was seen; a slow
        // signal may let it reach epoch 3.)
        TrainingCheckpoint saved = TrainingCheckpointFile.Read(Path.Combine(_root, "jobs", id, "checkpoint.bin"))!;
        Assert.NotNull(saved);
        Assert.True(saved.IsMidEpoch, $"the checkpoint is at an epoch boundary, after epoch {saved.CompletedEpochs}");
        Assert.InRange(saved.CompletedEpochs, 1, Epochs - 1);
        Assert.True(saved.CompletedEpochs * batches + saved.BatchesDone >= batches + seenBatch,
            $"checkpointed at batch {saved.BatchesDone} of epoch {saved.CompletedEpochs + 1}, before batch {seenBatch} of epoch 2 was reported");
        int epoch = saved.CompletedEpochs + 1;
        Assert.Contains(Lines(shutdownLog), l => l.Contains(id) && l.Contains($"in epoch {epoch} after batch {saved.BatchesDone} of {batches} on shutdown"));
        // While it waits to resume, the job is still running and its progress says where it stopped.
        JsonObject stored = StoredJob(id);
        Assert.Equal("running", (string?)stored["status"]);
        Assert.Equal((epoch, saved.BatchesDone), ((int)stored["progress"]!["epoch"]!, (int)stored["progress"]!["batch"]!));

        await _service.StartAsync();
        JsonObject after = await TrainingRequests.WaitAsync(client, id, TrainingRequests.Finished, seconds: 180);
        Assert.Contains(Lines(_service.Output), l => l.Contains(id) && l.Contains($"from its checkpoint in epoch {epoch} after batch {saved.BatchesDone} of {batches}"));

        Assert.Equal("succeeded", (string?)after["status"]);
        Assert.Equal(1, (int)after["resumed"]!);
        Assert.Equal(saved.CompletedEpochs, (int)after["resumed_from_epoch"]!);
        Assert.Equal(saved.BatchesDone, (int)after["resumed_from_batch"]!);
        JsonArray history = after["history"]!.AsArray();
        Assert.Equal(Epochs, history.Count);
        Assert.Equal([1, 2, 3], history.Select(e => (int)e!["epoch"]!));
        // The epochs finished before the signal are kept as they were, not trained again.
        Assert.Equal(saved.History.Select(e => e.TrainLoss), history.Take(saved.CompletedEpochs).Select(e => (double)e!["train_loss"]!));
        Assert.Equal(Epochs, (int)after["progress"]!["epoch"]!);
        Assert.Equal(1, (int)(await (await client.GetAsync("/v1/models/mid-epoch")).JsonAsync())["version"]!);
    }

    private static string[] Lines(string output) => output.Split('\n');

    /// <summary>The job's record as the stopped service left it in its SQLite store.</summary>
    private JsonObject StoredJob(string id)
    {
        using var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = Path.Combine(_root, "jobs.db"), Pooling = false }.ToString());
        connection.Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT record FROM jobs WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        return JsonNode.Parse((string)command.ExecuteScalar()!)!.AsObject();
    }

    public void Dispose()
    {
        _service.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
