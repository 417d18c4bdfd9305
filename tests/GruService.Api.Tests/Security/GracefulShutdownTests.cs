using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using GruService.Api.Tests.Training;

namespace GruService.Api.Tests.Security;

/// <summary>The service as a real process, stopped with SIGTERM while a request is in flight and a job is training.</summary>
public sealed class GracefulShutdownTests : IDisposable
{
    private const int TimeoutSeconds = 30;
    private readonly string _root = Directory.CreateTempSubdirectory("gru-shutdown-").FullName;
    private readonly ServiceProcess _service;

    public GracefulShutdownTests() => _service = new ServiceProcess(_root,
        "--Training:ProgressIntervalSeconds=0", "--Shutdown:DrainDelaySeconds=5", $"--Shutdown:TimeoutSeconds={TimeoutSeconds}");

    [Fact]
    public async Task Sigterm_MakesReadyz503_FinishesTheRequestInFlight_ExitsZeroInTime_AndTheJobResumesAtTheNextStart()
    {
        HttpClient client = _service.Client;
        await _service.StartAsync();
        string id = await TrainingRequests.StartAsync(client, TrainingRequests.Forecast("resumed", epochs: 4, TrainingRequests.Sine(4000)));
        JsonObject before = await TrainingRequests.WaitAsync(client, id, j => j["history"]!.AsArray().Count >= 1, seconds: 120);

        // A dataset upload whose body is half sent when the signal comes, on its own connection.
        using var uploader = new HttpClient { BaseAddress = _service.BaseAddress, Timeout = TimeSpan.FromSeconds(TimeoutSeconds * 2) };
        uploader.DefaultRequestHeaders.Add("X-Api-Key", GruServiceFactory.TestApiKey);
        var body = new GatedCsvContent(rows: 2000);
        Task<HttpResponseMessage> upload = uploader.PostAsync("/v1/datasets?name=in-flight", body);
        await body.FirstHalfSent.WaitAsync(TimeSpan.FromSeconds(30));

        var stopping = Stopwatch.StartNew();
        _service.Terminate();

        // Unready at once, while the server still answers.
        HttpResponseMessage? unready = null;
        for (int i = 0; i < 100 && unready is null; i++)
        {
            HttpResponseMessage probe = await client.GetAsync("/readyz");
            if (probe.StatusCode == HttpStatusCode.ServiceUnavailable) unready = probe;
            else await Task.Delay(20);
        }
        Assert.True(unready is not null, "/readyz did not turn 503 after SIGTERM");
        JsonObject readiness = await unready.JsonAsync();
        Assert.Equal("Unhealthy", (string?)readiness["checks"]!["shutdown"]!["status"]);

        // After the drain delay the server stops taking connections; the upload in flight is still allowed to finish.
        await WaitUntilRefusedAsync(client);
        Assert.False(upload.IsCompleted, "the upload in flight was ended before its body was sent");
        body.SendSecondHalf();
        HttpResponseMessage uploaded = await upload;
        Assert.Equal(HttpStatusCode.Created, uploaded.StatusCode);
        Assert.Equal(2000, (int)(await uploaded.JsonAsync())["rows"]!);

        Assert.True(await WaitForExitAsync(_service.Process!, TimeSpan.FromSeconds(TimeoutSeconds + 10)), "the process did not exit");
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(TimeoutSeconds), $"stopping took {stopping.Elapsed}");
        Assert.True(_service.Process!.ExitCode == 0, $"exit code {_service.Process.ExitCode}:\n{_service.Output}");
        // Stopping as asked is no fault: the drain's 503 probes and the interrupted job are not logged as errors.
        string[] errors = [.. _service.Output.Split('\n').Where(line => line.Contains("\"Level\":\"Error\"") || line.Contains("\"Level\":\"Fatal\""))];
        Assert.True(errors.Length == 0, $"errors logged while stopping:\n{string.Join('\n', errors)}");

        await _service.StartAsync();
        JsonObject after = await TrainingRequests.WaitAsync(client, id, TrainingRequests.Finished, seconds: 180);
        Assert.Equal("succeeded", (string?)after["status"]);
        Assert.Equal(1, (int)after["resumed"]!);
        JsonArray history = after["history"]!.AsArray();
        Assert.Equal(4, history.Count);
        // The epochs checkpointed before the signal are kept, not trained again.
        Assert.Equal((double)before["history"]![0]!["train_loss"]!, (double)history[0]!["train_loss"]!);
        JsonArray datasets = (await (await client.GetAsync("/v1/datasets")).JsonAsync())["datasets"]!.AsArray();
        Assert.Contains(datasets, d => (string?)d!["name"] == "in-flight");
    }

    private static async Task WaitUntilRefusedAsync(HttpClient client)
    {
        for (int i = 0; i < 600; i++)
        {
            try
            {
                await client.GetAsync("/readyz");
            }
            catch (HttpRequestException)
            {
                return;
            }
            await Task.Delay(50);
        }
        throw new TimeoutException("The server kept taking connections after the drain delay.");
    }

    private static async Task<bool> WaitForExitAsync(Process process, TimeSpan limit)
    {
        try
        {
            await process.WaitForExitAsync().WaitAsync(limit);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    /// <summary>A CSV time series sent in two halves; the second waits for <see cref="SendSecondHalf"/>.</summary>
    private sealed class GatedCsvContent : HttpContent
    {
        private readonly byte[] _first;
        private readonly byte[] _second;
        private readonly TaskCompletionSource _firstSent = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _release = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public GatedCsvContent(int rows)
        {
            var csv = new StringBuilder("t,x\n");
            for (int i = 0; i < rows; i++) csv.Append(i).Append(',').Append(Math.Sin(i / 10.0).ToString("R", System.Globalization.CultureInfo.InvariantCulture)).Append('\n');
            byte[] all = Encoding.UTF8.GetBytes(csv.ToString());
            int split = Array.LastIndexOf(all, (byte)'\n', all.Length / 2) + 1;
            _first = all[..split];
            _second = all[split..];
            Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/csv");
        }

        public Task FirstHalfSent => _firstSent.Task;

        public void SendSecondHalf() => _release.SetResult();

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(_first);
            await stream.FlushAsync();
            _firstSent.SetResult();
            await _release.Task;
            await stream.WriteAsync(_second);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _first.Length + _second.Length;
            return true;
        }
    }

    public void Dispose()
    {
        _service.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
