using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GruService.Api.Tests.Datasets;
using GruService.Api.Tests.Training;
using GruService.Api.Training;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.DependencyInjection;

namespace GruService.Api.Tests.StorageFaults;

/// <summary>
/// A full or read-only storage root under the File provider, injected by decorators around the real stores that
/// throw what the operating system throws (see <see cref="StorageFaultSwitch"/>): every write answers 507 or 503
/// with a problem body, what was served keeps being served, nothing half-written is left or listed, and everything
/// works again once the fault clears.
/// </summary>
public sealed class StorageFaultApiTests : ServiceTestBase
{
    private readonly StorageFaultSwitch _faults;
    private readonly ReferenceModel _model = ReferenceModel.Load(12);

    public StorageFaultApiTests() : this(new StorageFaultSwitch()) { }

    // The switch comes in as an argument because the host is built in the call to the base constructor, which cannot read fields.
    private StorageFaultApiTests(StorageFaultSwitch faults)
        : base(new GruServiceFactory(settings: new Dictionary<string, string?> { ["Training:ProgressIntervalSeconds"] = "0" })
        {
            ConfigureTestServices = faults.Install,
        })
        => _faults = faults;

    public static TheoryData<StorageFaultKind, int, string> Faults => new()
    {
        { StorageFaultKind.DiskFull, 507, "storage_full" },
        { StorageFaultKind.ReadOnly, 503, "storage_unavailable" },
    };

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task UploadModel_AnswersAStorageProblem_AndKeepsServing_ThenSucceedsOnceTheFaultClears(StorageFaultKind fault, int status, string reason)
    {
        string answer = await UploadAndForecastAsync("kept");
        _faults.Set(fault);

        string detail = await (await Client.PutModelAsync("kept", ReferenceModel.Load(7).File)).AssertProblemAsync(status, reason);

        Assert.Contains(fault == StorageFaultKind.DiskFull ? "No space left on device" : "Read-only file system", detail);
        Assert.Equal(answer, await ForecastAsync("kept"));
        Assert.Equal(new[] { 1 }, await VersionsAsync("kept"));
        Assert.Equal(1, (int)(await (await Client.GetAsync("/v1/models/kept")).JsonAsync())["version"]!);

        _faults.Clear();
        Assert.Equal(HttpStatusCode.Created, (await Client.PutModelAsync("kept", ReferenceModel.Load(7).File)).StatusCode);
        Assert.Equal(new[] { 1, 2 }, await VersionsAsync("kept"));
    }

    [Fact]
    public async Task UploadModel_Returns507_AndLeavesNoPartialFile_WhenTheDiskFillsUpMidUpload()
    {
        string answer = await UploadAndForecastAsync("kept");
        _faults.Set(StorageFaultKind.DiskFull);

        // The first KiB of the 600 KB upload is written before the disk is full.
        await (await Client.PutModelAsync("kept", ReferenceModel.Load(7).File)).AssertProblemAsync(507, "storage_full");

        Assert.Empty(StagedUploads());
        Assert.Equal(["1.json", "1.safetensors", "active", "task"], ModelDirectoryEntries("kept"));
        Assert.Equal(answer, await ForecastAsync("kept"));

        // A restart finds only the complete version.
        _faults.Clear();
        using var restarted = new GruServiceFactory(Factory.StorageRoot);
        HttpClient client = await restarted.ReadyClientAsync();
        Assert.Equal(answer, await ForecastAsync(client, "kept"));
        Assert.Single((await (await client.GetAsync("/v1/models/kept/versions")).JsonAsync())["versions"]!.AsArray());
    }

    [Fact]
    public async Task UploadModel_Returns507_AndStoresNothing_WhenTheDiskIsFullForANewModel()
    {
        _faults.Set(StorageFaultKind.DiskFull);

        await (await Client.PutModelAsync("fresh", _model.File)).AssertProblemAsync(507, "storage_full");

        await (await Client.GetAsync("/v1/models/fresh")).AssertProblemAsync(404, "unknown_model");
        await (await Client.GetAsync("/v1/models/fresh/versions")).AssertProblemAsync(404, "unknown_model");
        Assert.Empty(StagedUploads());
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task ActivateVersion_AnswersAStorageProblem_AndKeepsServingTheActiveVersion(StorageFaultKind fault, int status, string reason)
    {
        string answer = await UploadAndForecastAsync("kept");
        Assert.Equal(HttpStatusCode.Created, (await Client.PutModelAsync("kept", TestModelFiles.Described(_model, "version 2"))).StatusCode);
        _faults.Set(fault);

        await (await Client.PostAsync("/v1/models/kept/versions/1/activate", null)).AssertProblemAsync(status, reason);

        Assert.Equal(2, (int)(await (await Client.GetAsync("/v1/models/kept")).JsonAsync())["version"]!);
        Assert.Equal(answer, await ForecastAsync("kept"));
        _faults.Clear();
        Assert.Equal(HttpStatusCode.OK, (await Client.PostAsync("/v1/models/kept/versions/1/activate", null)).StatusCode);
    }

    [Fact]
    public async Task DeleteModel_Returns503_AndKeepsServing_WhenStorageIsReadOnly()
    {
        string answer = await UploadAndForecastAsync("kept");
        _faults.Set(StorageFaultKind.ReadOnly);

        await (await Client.DeleteAsync("/v1/models/kept")).AssertProblemAsync(503, "storage_unavailable");

        Assert.Equal(answer, await ForecastAsync("kept"));
        Assert.Equal(new[] { 1 }, await VersionsAsync("kept"));
    }

    [Fact]
    public async Task Readiness_Answers503_WhileStorageIsReadOnly_AndForecastsKeepAnswering()
    {
        string answer = await UploadAndForecastAsync("kept");
        _faults.Set(StorageFaultKind.ReadOnly);

        HttpResponseMessage ready = await Client.GetAsync("/readyz");

        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);
        Assert.Contains("Read-only file system", (string?)(await ready.JsonAsync())["checks"]!["storage"]!["description"]);
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync("/healthz")).StatusCode);
        Assert.Equal(answer, await ForecastAsync("kept"));
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task UploadDataset_AnswersAStorageProblem_AndStoresNothing_ThenSucceedsOnceTheFaultClears(StorageFaultKind fault, int status, string reason)
    {
        _faults.Set(fault);

        await (await Client.PostDatasetAsync(SineCsv(2000), DatasetTestExtensions.Csv, "sine")).AssertProblemAsync(status, reason);

        Assert.Empty((await (await Client.GetAsync("/v1/datasets")).JsonAsync())["datasets"]!.AsArray());
        Assert.Empty(DatasetTestExtensions.DatasetEntries(Factory.StorageRoot));
        _faults.Clear();
        Assert.Equal(HttpStatusCode.Created, (await Client.PostDatasetAsync(SineCsv(2000), DatasetTestExtensions.Csv, "sine")).StatusCode);
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task StartJob_AnswersAStorageProblem_AndQueuesNothing_WhenTheJobStoreCannotBeWritten(StorageFaultKind fault, int status, string reason)
    {
        _faults.Set(fault, StorageFaultTargets.JobRecords);

        await (await Client.PostJsonAsync("/v1/training-jobs", TrainingRequests.Forecast("trained", epochs: 1).ToJsonString())).AssertProblemAsync(status, reason);

        Assert.Empty((await (await Client.GetAsync("/v1/training-jobs")).JsonAsync())["jobs"]!.AsArray());
    }

    [Theory]
    [MemberData(nameof(Faults))]
    public async Task DeleteJob_AnswersAStorageProblem_AndKeepsTheJob_WhenTheJobStoreCannotBeWritten(StorageFaultKind fault, int status, string reason)
    {
        // A job that has ended, stored as it stands (no worker claims it).
        var job = new TrainingJob("job-ended", JobStatus.Cancelled, "m", "forecast", null, DateTimeOffset.UtcNow, null, DateTimeOffset.UtcNow, null, [], null, null, 0,
            JsonSerializer.SerializeToElement(new { model = "m" }));
        Assert.True(await Factory.Services.GetRequiredService<IJobStore>().TryEnqueueAsync(job, capacity: 1, CancellationToken.None));
        _faults.Set(fault, StorageFaultTargets.JobRecords);

        await (await Client.DeleteAsync("/v1/training-jobs/job-ended")).AssertProblemAsync(status, reason);

        Assert.Equal("cancelled", (string?)(await (await Client.GetAsync("/v1/training-jobs/job-ended")).JsonAsync())["status"]);
        _faults.Clear();
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync("/v1/training-jobs/job-ended")).StatusCode);
    }

    [Fact]
    public async Task StartJob_Returns503_WhenTheJobDatabaseCannotBeOpened()
    {
        // No decorator here: SQLite itself fails (SQLITE_CANTOPEN), as it does when the root is unmounted or replaced.
        string database = Path.Combine(Factory.StorageRoot, "jobs.db");
        foreach (string file in new[] { database, database + "-wal", database + "-shm" }) File.Delete(file);
        Directory.CreateDirectory(database);
        SqliteConnection.ClearAllPools();

        await (await Client.PostJsonAsync("/v1/training-jobs", TrainingRequests.Forecast("trained", epochs: 1).ToJsonString()))
            .AssertProblemAsync(503, "storage_unavailable");
        await (await Client.GetAsync("/v1/training-jobs")).AssertProblemAsync(503, "storage_unavailable");
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync("/healthz")).StatusCode);
    }

    [Fact]
    public async Task TrainingJob_Fails_WithTheStorageError_AndKeepsServingTheActiveVersion_WhenItsResultCannotBeStored()
    {
        string answer = await UploadAndForecastAsync("kept");
        string dataset = await UploadDatasetAsync();
        _faults.Set(StorageFaultKind.DiskFull, StorageFaultTargets.Models);

        JsonObject job = await TrainAsync(dataset, "kept");

        Assert.Equal("failed", (string?)job["status"]);
        Assert.Contains("No space left on device", (string?)job["error"]);
        Assert.Equal(answer, await ForecastAsync("kept"));
        Assert.Equal(new[] { 1 }, await VersionsAsync("kept"));
        Assert.Empty(StagedUploads());

        // The dataset is intact: the same job succeeds once there is room.
        _faults.Clear();
        JsonObject retried = await TrainAsync(dataset, "kept");
        Assert.Equal("succeeded", (string?)retried["status"]);
        Assert.Equal(2, (int)retried["result"]!["version"]!);
    }

    [Fact]
    public async Task TrainingJob_Fails_WithTheStorageError_AndPublishesNothing_WhenACheckpointCannotBeWritten()
    {
        string dataset = await UploadDatasetAsync();
        _faults.Set(StorageFaultKind.DiskFull, StorageFaultTargets.Checkpoints);

        JsonObject job = await TrainAsync(dataset, "trained");

        Assert.Equal("failed", (string?)job["status"]);
        Assert.Contains("No space left on device", (string?)job["error"]);
        await (await Client.GetAsync("/v1/models/trained")).AssertProblemAsync(404, "unknown_model");
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync($"/v1/datasets/{dataset}")).StatusCode);
    }

    [Fact]
    public async Task TrainingJob_IsRecordedOnceTheJobStoreIsWritableAgain_WhenItsRecordCannotBeWrittenMeanwhile()
    {
        // Long enough (several seconds) for the fault to be switched on while it trains.
        string dataset = await UploadDatasetAsync(rows: 3000);
        string id = await StartJobAsync(dataset, "trained", epochs: 5);
        await TrainingRequests.WaitAsync(Client, id, j => (string?)j["status"] == "running");
        _faults.Set(StorageFaultKind.DiskFull, StorageFaultTargets.JobRecords);

        // Training goes on and publishes; only its record waits. The worker and the API stay up meanwhile.
        for (int i = 0; i < 600 && !Factory.Services.GetRequiredService<GruService.Api.Models.ModelRegistry>().TryGet("trained", out _); i++)
            await Task.Delay(100);
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync("/v1/models/trained")).StatusCode);
        Assert.Equal("running", (string?)(await (await Client.GetAsync($"/v1/training-jobs/{id}")).JsonAsync())["status"]);
        await (await Client.PostJsonAsync("/v1/training-jobs", TrainingRequests.Forecast("other", epochs: 1).ToJsonString())).AssertProblemAsync(507, "storage_full");

        _faults.Clear();
        JsonObject job = await TrainingRequests.WaitAsync(Client, id, TrainingRequests.Finished, seconds: 60);
        Assert.Equal("succeeded", (string?)job["status"]);
        Assert.Equal(1, (int)job["result"]!["version"]!);
    }

    private async Task<string> UploadAndForecastAsync(string name)
    {
        Assert.Equal(HttpStatusCode.Created, (await Client.PutModelAsync(name, _model.File)).StatusCode);
        return await ForecastAsync(name);
    }

    private Task<string> ForecastAsync(string name) => ForecastAsync(Client, name);

    /// <summary>The model's answer to the reference inputs (its outputs only, not which model or version gave them).</summary>
    private async Task<string> ForecastAsync(HttpClient client, string name) => await _model.AnswerAsync(client, name);

    private async Task<int[]> VersionsAsync(string name) =>
        [.. (await (await Client.GetAsync($"/v1/models/{name}/versions")).JsonAsync())["versions"]!.AsArray().Select(v => (int)v!["version"]!)];

    private async Task<string> UploadDatasetAsync(int rows = 400)
    {
        HttpResponseMessage response = await Client.PostDatasetAsync(SineCsv(rows), DatasetTestExtensions.Csv, "sine");
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (string)(await response.JsonAsync())["id"]!;
    }

    private async Task<string> StartJobAsync(string dataset, string model, int epochs)
    {
        JsonObject request = TrainingRequests.ForecastOnDataset(dataset, model, epochs);
        request["targets"] = new JsonArray("y");
        HttpResponseMessage response = await Client.PostJsonAsync("/v1/training-jobs", request.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (string)(await response.JsonAsync())["id"]!;
    }

    private async Task<JsonObject> TrainAsync(string dataset, string model) =>
        await TrainingRequests.WaitAsync(Client, await StartJobAsync(dataset, model, epochs: 2), TrainingRequests.Finished, seconds: 120);

    private string[] StagedUploads() => [.. Directory.EnumerateFiles(Path.Combine(Factory.StorageRoot, "tmp"), "upload-*")];

    private string[] ModelDirectoryEntries(string name) =>
        [.. Directory.EnumerateFileSystemEntries(Path.Combine(Factory.StorageRoot, "models", name)).Select(Path.GetFileName).OfType<string>().Order(StringComparer.Ordinal)];

    /// <summary>A one-feature hourly time series, "y", as CSV.</summary>
    public static string SineCsv(int rows)
    {
        var csv = new StringBuilder("time,y\n");
        var start = new DateTime(2024, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        for (int t = 0; t < rows; t++)
            csv.Append(System.Globalization.CultureInfo.InvariantCulture, $"{start.AddHours(t):yyyy-MM-ddTHH:mm:ss},{Math.Round(Math.Sin(2 * Math.PI * t / 20), 4)}\n");
        return csv.ToString();
    }
}
