using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GruService.Api.Tests.StorageFaults;

/// <summary>
/// Model files are written through a temporary file that is flushed and renamed into place, so a crash at any point
/// leaves the previous state whole: what a crash leaves behind is removed at the next start, and a damaged file at a
/// version's own path (which only a failing disk or a hand edit makes) is refused, logged, and harms nothing else.
/// </summary>
public sealed class CrashSafetyTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("gru-crash-").FullName;
    private readonly ReferenceModel _model = ReferenceModel.Load(12);
    private readonly byte[] _large = ReferenceModel.Load(7).File;
    private ServiceProcess? _service;

    [Fact]
    public async Task KillDuringAModelUpload_ThenRestart_LeavesNoPartialFile_AndServesThePreviousVersion()
    {
        _service = new ServiceProcess(_root, "--Shutdown:DrainDelaySeconds=0");
        HttpClient client = _service.Client;
        await _service.StartAsync();
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("kept", _model.File)).StatusCode);
        string answer = await ForecastAsync(client);

        // Half of a 600 KB model, then the body stalls: the service is writing it when it is killed.
        using var stall = new CancellationTokenSource();
        var content = new StallingContent(_large, _large.Length / 2, stall.Token);
        Task<HttpResponseMessage> upload = client.PutAsync("/v1/models/kept", content, stall.Token);
        await WaitUntilAsync(() => StagedUploads().Any(f => new FileInfo(f).Length > 0), "the upload to reach the staging file");
        await _service.KillAsync(); // SIGKILL: no shutdown code runs
        await stall.CancelAsync();
        await Assert.ThrowsAnyAsync<Exception>(() => upload);

        // What the crash left: a partial staging file, and nothing new beside the stored version.
        Assert.NotEmpty(StagedUploads());
        Assert.Equal(["1.json", "1.safetensors", "active", "task"], ModelDirectoryEntries("kept"));

        await _service.StartAsync();
        Assert.Empty(StagedUploads());
        Assert.Equal(answer, await ForecastAsync(client));
        Assert.Single((await (await client.GetAsync("/v1/models/kept/versions")).JsonAsync())["versions"]!.AsArray());
        // The interrupted upload took no version number.
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("kept", _large)).StatusCode);
        Assert.Equal(2, (int)(await (await client.GetAsync("/v1/models/kept")).JsonAsync())["version"]!);
    }

    [Fact]
    public async Task Start_RemovesTemporaryFilesACrashLeft_AndServesOnlyCompleteVersions()
    {
        string answer;
        using (var first = new GruServiceFactory(_root))
        {
            HttpClient client = await first.ReadyClientAsync();
            Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("kept", _model.File)).StatusCode);
            answer = await ForecastAsync(client);
        }
        // A crash at each step of storing version 2: mid-upload, mid-record, mid-activation, mid-deletion.
        string directory = Path.Combine(_root, "models", "kept");
        string[] leftovers =
        [
            Path.Combine(_root, "tmp", $"upload-{Guid.NewGuid():N}"),
            Path.Combine(directory, $"2.json.{Guid.NewGuid():N}.tmp"),
            Path.Combine(directory, $"active.{Guid.NewGuid():N}.tmp"),
        ];
        await File.WriteAllBytesAsync(leftovers[0], _large.AsMemory(0, _large.Length / 2).ToArray());
        await File.WriteAllTextAsync(leftovers[1], "{\"version\": 2, \"sha");
        await File.WriteAllTextAsync(leftovers[2], "2");
        string deleted = Path.Combine(_root, "tmp", $"deleted-gone-{Guid.NewGuid():N}");
        Directory.CreateDirectory(deleted);
        await File.WriteAllBytesAsync(Path.Combine(deleted, "1.safetensors"), _model.File);

        using var second = new GruServiceFactory(_root);
        HttpClient restarted = await second.ReadyClientAsync();

        Assert.All(leftovers, path => Assert.False(File.Exists(path), $"{path} was left"));
        Assert.False(Directory.Exists(deleted));
        Assert.Equal(["1.json", "1.safetensors", "active", "task"], ModelDirectoryEntries("kept"));
        Assert.Equal(answer, await ForecastAsync(restarted));
        Assert.Equal(1, (int)(await (await restarted.GetAsync("/v1/models/kept")).JsonAsync())["version"]!);
        await (await restarted.GetAsync("/v1/models/gone")).AssertProblemAsync(404, "unknown_model");
    }

    [Fact]
    public async Task TruncatedVersionFile_IsRefusedWithALoggedError_AndOtherModelsAndVersionsStillLoad()
    {
        string answer;
        using (var first = new GruServiceFactory(_root))
        {
            HttpClient client = await first.ReadyClientAsync();
            Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("intact", _model.File)).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("torn", _model.File)).StatusCode);
            Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("torn", TestModelFiles.Described(_model, "version 2"))).StatusCode);
            answer = await ForecastAsync(client, "intact");
        }
        // The active version's file cut short, as a write without the rename could leave it on a failing disk.
        string torn = Path.Combine(_root, "models", "torn", "2.safetensors");
        await File.WriteAllBytesAsync(torn, _model.File.AsMemory(0, _model.File.Length / 2).ToArray());

        var logs = new CapturingLoggerProvider();
        using var second = new GruServiceFactory(_root) { ConfigureTestServices = services => services.AddSingleton<ILoggerProvider>(logs) };
        HttpClient restarted = await second.ReadyClientAsync();

        LogEvent refused = Assert.Single(logs.Events, e => e.Category.EndsWith("ModelRegistry") && e.Level == LogLevel.Error);
        Assert.Equal("torn", refused.State["Model"]);
        Assert.Equal(2, refused.State["Version"]);
        Assert.Equal(answer, await ForecastAsync(restarted, "intact"));
        await (await restarted.GetAsync("/v1/models/torn")).AssertProblemAsync(404, "unknown_model");
        await (await restarted.PostAsync("/v1/models/torn/versions/2/activate", null)).AssertProblemAsync(409, "invalid_stored_model");
        // The complete version still loads, on request.
        Assert.Equal(HttpStatusCode.OK, (await restarted.PostAsync("/v1/models/torn/versions/1/activate", null)).StatusCode);
        Assert.Equal(answer, await ForecastAsync(restarted, "torn"));
    }

    private Task<string> ForecastAsync(HttpClient client, string name = "kept") => _model.AnswerAsync(client, name);

    private string[] StagedUploads() => [.. Directory.EnumerateFiles(Path.Combine(_root, "tmp"), "upload-*")];

    private string[] ModelDirectoryEntries(string name) =>
        [.. Directory.EnumerateFileSystemEntries(Path.Combine(_root, "models", name)).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        for (int i = 0; i < 600; i++)
        {
            if (condition()) return;
            await Task.Delay(50);
        }
        throw new TimeoutException($"Timed out waiting for {what}.");
    }

    public void Dispose()
    {
        _service?.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }

    /// <summary>Sends the first <paramref name="sent"/> bytes of a body of the whole file's length, then waits until cancelled.</summary>
    private sealed class StallingContent : HttpContent
    {
        private readonly byte[] _file;
        private readonly int _sent;
        private readonly CancellationToken _stall;

        public StallingContent(byte[] file, int sent, CancellationToken stall)
        {
            (_file, _sent, _stall) = (file, sent, stall);
            Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            await stream.WriteAsync(_file.AsMemory(0, _sent), _stall);
            await stream.FlushAsync(_stall);
            await Task.Delay(Timeout.Infinite, _stall);
        }

        protected override bool TryComputeLength(out long length)
        {
            length = _file.Length;
            return true;
        }
    }
}

public static class StorageFaultTestExtensions
{
    /// <summary>A model's answer to the reference inputs: its outputs only, not which model or version gave them.</summary>
    public static async Task<string> AnswerAsync(this ReferenceModel model, HttpClient client, string name)
    {
        HttpResponseMessage response = await client.PostJsonAsync($"/v1/models/{name}/{model.Task}", HttpTestExtensions.Serialize(model.Inputs));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        System.Text.Json.Nodes.JsonObject body = await response.JsonAsync();
        body.Remove("model");
        body.Remove("version");
        return body.ToJsonString();
    }
}
