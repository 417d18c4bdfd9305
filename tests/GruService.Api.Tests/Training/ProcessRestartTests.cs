using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;

namespace GruService.Api.Tests.Training;

/// <summary>The service as a real process, killed with SIGKILL in the middle of a training job and started again.</summary>
public sealed class ProcessRestartTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("gru-restart-").FullName;
    private readonly int _port = FreePort();
    private Process? _process;

    [Fact]
    public async Task KillDuringAJob_ThenRestart_ResumesItFromItsCheckpoint_AndKeepsEveryOtherJobAndModel()
    {
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{_port}") };
        await StartAsync(client);
        ReferenceModel reference = ReferenceModel.Load(8);
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("kept", reference.File)).StatusCode);
        string answer = await (await client.PostJsonAsync("/v1/models/kept/forecast", HttpTestExtensions.Serialize(reference.Inputs))).Content.ReadAsStringAsync();
        string done = await StartJobAsync(client, TrainingRequests.Forecast("small", epochs: 2));
        await TrainingRequests.WaitAsync(client, done, TrainingRequests.Finished);

        string id = await StartJobAsync(client, TrainingRequests.Forecast("resumed", epochs: 10, TrainingRequests.Sine(4000)));
        JsonObject before = await TrainingRequests.WaitAsync(client, id, j => j["history"]!.AsArray().Count >= 2, seconds: 120);
        _process!.Kill(entireProcessTree: true); // SIGKILL: no shutdown code runs
        await _process.WaitForExitAsync();
        double[] lossesBefore = [.. before["history"]!.AsArray().Select(e => (double)e!["train_loss"]!)];

        await StartAsync(client);
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

    private static async Task<string> StartJobAsync(HttpClient client, JsonObject request)
    {
        HttpResponseMessage response = await client.PostJsonAsync("/v1/training-jobs", request.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (string)(await response.JsonAsync())["id"]!;
    }

    private async Task StartAsync(HttpClient client)
    {
        var start = new ProcessStartInfo("dotnet")
        {
            ArgumentList =
            {
                Path.Combine(AppContext.BaseDirectory, "GruService.Api.dll"),
                "--urls", $"http://127.0.0.1:{_port}",
                $"--Storage:Root={_root}",
                "--Models:BundledDirectory=",
                "--Serilog:MinimumLevel=Warning",
                "--Training:ProgressIntervalSeconds=0",
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        _process = Process.Start(start)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        for (int i = 0; i < 300; i++)
        {
            try
            {
                if ((await client.GetAsync("/readyz")).IsSuccessStatusCode) return;
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            Assert.False(_process.HasExited, "The service exited while starting.");
            await Task.Delay(100);
        }
        throw new TimeoutException("The service did not become ready.");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public void Dispose()
    {
        if (_process is { HasExited: false }) _process.Kill(entireProcessTree: true);
        _process?.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
