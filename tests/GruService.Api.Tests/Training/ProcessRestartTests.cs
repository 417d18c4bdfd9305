using System.Net;
using System.Text.Json.Nodes;

namespace GruService.Api.Tests.Training;

/// <summary>The service as a real process, killed with SIGKILL in the middle of a training job and started again.</summary>
public sealed class ProcessRestartTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("gru-restart-").FullName;
    private readonly ServiceProcess _service;

    public ProcessRestartTests() => _service = new ServiceProcess(_root, "--Training:ProgressIntervalSeconds=0");

    [Fact]
    public async Task KillDuringAJob_ThenRestart_ResumesItFromItsCheckpoint_AndKeepsEveryOtherJobAndModel()
    {
        HttpClient client = _service.Client;
        await _service.StartAsync();
        ReferenceModel reference = ReferenceModel.Load(8);
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("kept", reference.File)).StatusCode);
        string answer = await (await client.PostJsonAsync("/v1/models/kept/forecast", HttpTestExtensions.Serialize(reference.Inputs))).Content.ReadAsStringAsync();
        string done = await TrainingRequests.StartAsync(client, TrainingRequests.Forecast("small", epochs: 2));
        await TrainingRequests.WaitAsync(client, done, TrainingRequests.Finished);

        string id = await TrainingRequests.StartAsync(client, TrainingRequests.Forecast("resumed", epochs: 10, TrainingRequests.Sine(4000)));
        JsonObject before = await TrainingRequests.WaitAsync(client, id, j => j["history"]!.AsArray().Count >= 2, seconds: 120);
        await _service.KillAsync();
        double[] lossesBefore = [.. before["history"]!.AsArray().Select(e => (double)e!["train_loss"]!)];

        await _service.StartAsync();
        JsonObject after = await TrainingRequests.WaitAsync(client, id, TrainingRequests.Finished, seconds: 180);

        Assert.Equal("succeeded", (string?)after["status"]);
        Assert.Equal(1, (int)after["resumed"]!);
        JsonArray history = after["history"]!.AsArray();
        Assert.Equal(10, history.Count);
        // The epochs finished before the kill are kept as they were, not trained again.
        Assert.Equal(lossesBefore, history.Take(lossesBefore.Length).Select(e => (double)e!["train_loss"]!));
        Assert.Equal(1, (int)(await (await client.GetAsync("/v1/models/resumed")).JsonAsync())["version"]!);

        Assert.Equal("succeeded", (string?)(await (await client.GetAsync($"/v1/training-jobs/{done}")).JsonAsync())["status"]);
        Assert.Equal(answer, await (await client.PostJsonAsync("/v1/models/kept/forecast", HttpTestExtensions.Serialize(reference.Inputs))).Content.ReadAsStringAsync());
        Assert.Equal(3, (await (await client.GetAsync("/v1/models")).JsonAsync())["models"]!.AsArray().Count);
    }

    public void Dispose()
    {
        _service.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
