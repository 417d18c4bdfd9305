using System.Net;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace GruService.Api.Tests;

public class ModelsApiTests : ServiceTestBase
{
    private static readonly ReferenceModel Forecaster = ReferenceModel.Load(8);
    private static readonly ReferenceModel OtherForecaster = ReferenceModel.Load(18);
    private static readonly ReferenceModel Classifier = ReferenceModel.Load(5);

    [Fact]
    public async Task ListModels_ReturnsEmptyList_OnFreshStore()
    {
        JsonObject body = await (await Client.GetAsync("/v1/models")).JsonAsync();
        Assert.Empty(body["models"]!.AsArray());
    }

    [Fact]
    public async Task UploadModel_Returns201WithCard_AsVersion1()
    {
        HttpResponseMessage response = await Client.PutModelAsync("demand", Forecaster.File);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal("/v1/models/demand", response.Headers.Location?.OriginalString);
        JsonObject card = await response.JsonAsync();
        Assert.Equal("demand", (string?)card["name"]);
        Assert.Equal(1, (int)card["version"]!);
        Assert.Equal("forecast", (string?)card["task"]);
        Assert.Equal(Forecaster.InputSize, (int)card["input_size"]!);
        Assert.Equal(Forecaster.Config.GetProperty("hidden_size").GetInt32(), (int)card["hidden_size"]!);
        Assert.Equal(Forecaster.Config.GetProperty("horizon").GetInt32(), (int)card["horizon"]!);
        Assert.Equal(Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Forecaster.File)), (string?)card["sha256"]);
        Assert.Equal(Forecaster.File.Length, (long)card["size_bytes"]!);
        Assert.True((long)card["parameter_count"]! > 0);
        Assert.Equal("linear_before_reset", (string?)card["variant"]);
        Assert.Null(card["classes"]);
    }

    [Fact]
    public async Task GetModel_ReturnsClassifierCard_WithClassesInOrder()
    {
        await Client.PutModelAsync("activity", Classifier.File);
        JsonObject card = await (await Client.GetAsync("/v1/models/activity")).JsonAsync();
        Assert.Equal("classify", (string?)card["task"]);
        Assert.Equal(Classifier.Config.GetProperty("classes").EnumerateArray().Select(c => c.GetString()), card["classes"]!.AsArray().Select(c => (string?)c));
        Assert.Null(card["horizon"]);
    }

    [Fact]
    public async Task GetModel_ShowsUnknownConfigKeysAsMetadata()
    {
        var config = JsonNode.Parse(Forecaster.Config.GetRawText())!.AsObject();
        config["description"] = "hourly demand, 8 sensors";
        config["training"] = new JsonObject { ["epochs"] = 40 };
        byte[] file = TestModelFiles.WithConfig(Forecaster.File, config.ToJsonString());
        Assert.Equal(HttpStatusCode.Created, (await Client.PutModelAsync("described", file)).StatusCode);
        JsonObject card = await (await Client.GetAsync("/v1/models/described")).JsonAsync();
        Assert.Equal("hourly demand, 8 sensors", (string?)card["metadata"]!["description"]);
        Assert.Equal(40, (int)card["metadata"]!["training"]!["epochs"]!);
    }

    [Fact]
    public async Task GetModel_ShowsFeatureAndTargetNames_WhenTheFileNamesEveryInputAndOutput()
    {
        int outputSize = Forecaster.Config.GetProperty("output_size").GetInt32();
        var config = JsonNode.Parse(Forecaster.Config.GetRawText())!.AsObject();
        config["feature_names"] = new JsonArray([.. Enumerable.Range(0, Forecaster.InputSize).Select(i => (JsonNode?)$"sensor {i}")]);
        config["target_names"] = new JsonArray([.. Enumerable.Range(0, outputSize).Select(i => (JsonNode?)$"demand {i}")]);
        Assert.Equal(HttpStatusCode.Created, (await Client.PutModelAsync("named", TestModelFiles.WithConfig(Forecaster.File, config.ToJsonString()))).StatusCode);

        JsonObject card = await (await Client.GetAsync("/v1/models/named")).JsonAsync();
        Assert.Equal(Enumerable.Range(0, Forecaster.InputSize).Select(i => $"sensor {i}"), card["feature_names"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(Enumerable.Range(0, outputSize).Select(i => $"demand {i}"), card["target_names"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(Forecaster.InputSize, card["metadata"]!["feature_names"]!.AsArray().Count);
    }

    [Fact]
    public async Task GetModel_LeavesOutFeatureAndTargetNames_WhenTheFileHasNone()
    {
        // A PyTorch export names nothing.
        await Client.PutModelAsync("unnamed", Forecaster.File);
        JsonObject unnamed = await (await Client.GetAsync("/v1/models/unnamed")).JsonAsync();
        Assert.False(unnamed.ContainsKey("feature_names"));
        Assert.False(unnamed.ContainsKey("target_names"));
    }

    [Fact]
    public async Task GetModel_LeavesOutNamesThatDoNotFit_OfAVersionStoredBeforeUploadsWereCheckedForThem()
    {
        await Client.PutModelAsync("misnamed", Forecaster.File);
        var config = JsonNode.Parse(Forecaster.Config.GetRawText())!.AsObject();
        config["feature_names"] = new JsonArray([.. Enumerable.Range(0, Forecaster.InputSize + 1).Select(i => (JsonNode?)$"f{i}")]);
        config["target_names"] = "demand";
        // Such a file is refused as an upload, but an earlier release stored it; it must still load and serve.
        await File.WriteAllBytesAsync(Path.Combine(Factory.StorageRoot, "models", "misnamed", "2.safetensors"),
            TestModelFiles.WithConfig(Forecaster.File, config.ToJsonString()));

        JsonObject misnamed = await (await Client.PostAsync("/v1/models/misnamed/versions/2/activate", null)).JsonAsync();

        Assert.Equal(2, (int)misnamed["version"]!);
        Assert.False(misnamed.ContainsKey("feature_names"));
        Assert.False(misnamed.ContainsKey("target_names"));
        Assert.Equal(Forecaster.InputSize + 1, misnamed["metadata"]!["feature_names"]!.AsArray().Count);
        Assert.Equal("demand", (string?)misnamed["metadata"]!["target_names"]);
    }

    [Fact]
    public async Task UploadModel_Returns400_AndKeepsServing_WhenFeatureOrTargetNamesAreMalformed()
    {
        int outputSize = Forecaster.Config.GetProperty("output_size").GetInt32();
        JsonNode Names(int count, Func<int, string> name) => new JsonArray([.. Enumerable.Range(0, count).Select(i => (JsonNode?)name(i))]);
        (string Key, JsonNode? Value, string Problem)[] malformed =
        [
            ("feature_names", "sensor", "config.feature_names is not an array of strings"),
            ("feature_names", Names(Forecaster.InputSize - 1, i => $"sensor {i}"),
                $"config.feature_names has {Forecaster.InputSize - 1} names; it names each feature of a time step, and input_size is {Forecaster.InputSize}"),
            ("feature_names", Names(Forecaster.InputSize, i => i == 1 ? " " : $"sensor {i}"), "config.feature_names[1] is empty or only whitespace"),
            ("feature_names", Names(Forecaster.InputSize, i => i == 1 ? "sensor 0" : $"sensor {i}"), "config.feature_names has 'sensor 0' twice ([0] and [1])"),
            ("target_names", Names(outputSize + 1, i => $"demand {i}"),
                $"config.target_names has {outputSize + 1} names; it names each value of a forecast step, and output_size is {outputSize}"),
            ("target_names", new JsonArray([.. Enumerable.Range(0, outputSize).Select(i => (JsonNode?)i)]), "config.target_names[0] is not a string"),
        ];
        await Client.PutModelAsync("demand", Forecaster.File);
        string request = HttpTestExtensions.Serialize(Forecaster.Inputs);
        string before = await (await Client.PostJsonAsync("/v1/models/demand/forecast", request)).Content.ReadAsStringAsync();

        foreach (var (key, value, problem) in malformed)
        {
            var config = JsonNode.Parse(Forecaster.Config.GetRawText())!.AsObject();
            config[key] = value;
            string detail = await (await Client.PutModelAsync("demand", TestModelFiles.WithConfig(Forecaster.File, config.ToJsonString())))
                .AssertProblemAsync(400, "invalid_model_file");
            Assert.Contains(problem, detail);
        }

        Assert.Single((await (await Client.GetAsync("/v1/models/demand/versions")).JsonAsync())["versions"]!.AsArray());
        Assert.Equal(before, await (await Client.PostJsonAsync("/v1/models/demand/forecast", request)).Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task GetModel_Returns404Problem_ForUnknownModel()
    {
        string detail = await (await Client.GetAsync("/v1/models/nothing-here")).AssertProblemAsync(404, "unknown_model");
        Assert.Contains("'nothing-here'", detail);
    }

    [Theory]
    [InlineData("Upper")]
    [InlineData("-leading-dash")]
    [InlineData("has%20space")]
    [InlineData("a0123456789012345678901234567890123456789012345678901234567890123")]
    public async Task UploadModel_Returns400_ForInvalidName(string name)
    {
        string detail = await (await Client.PutModelAsync(name, Forecaster.File)).AssertProblemAsync(400, "invalid_model_name");
        Assert.Contains("a-z, 0-9", detail);
    }

    [Fact]
    public async Task UploadModel_AcceptsLongestValidName()
    {
        string name = "a" + new string('9', 63);
        Assert.Equal(HttpStatusCode.Created, (await Client.PutModelAsync(name, Forecaster.File)).StatusCode);
    }

    [Fact]
    public async Task UploadModel_SecondUpload_BecomesVersion2AndActive()
    {
        await Client.PutModelAsync("demand", Forecaster.File);
        JsonObject card = await (await Client.PutModelAsync("demand", OtherForecaster.File)).JsonAsync();
        Assert.Equal(2, (int)card["version"]!);
        JsonObject active = await (await Client.GetAsync("/v1/models/demand")).JsonAsync();
        Assert.Equal(2, (int)active["version"]!);
        Assert.Equal(OtherForecaster.InputSize, (int)active["input_size"]!);
    }

    [Fact]
    public async Task UploadModel_Returns200AndMakesNoVersion_WhenTheFileIsTheActiveVersions()
    {
        JsonObject created = await (await Client.PutModelAsync("demand", Forecaster.File)).JsonAsync();
        string directory = Path.Combine(Factory.StorageRoot, "models", "demand");
        Dictionary<string, DateTime> before = Directory.EnumerateFiles(directory).ToDictionary(f => f, File.GetLastWriteTimeUtc);

        HttpResponseMessage again = await Client.PutModelAsync("demand", Forecaster.File);

        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Null(again.Headers.Location);
        JsonObject card = await again.JsonAsync();
        Assert.Equal(1, (int)card["version"]!);
        Assert.Equal((string?)created["sha256"], (string?)card["sha256"]);
        Assert.Equal((string?)created["created_at"], (string?)card["created_at"]);
        JsonObject versions = await (await Client.GetAsync("/v1/models/demand/versions")).JsonAsync();
        Assert.Equal([1], versions["versions"]!.AsArray().Select(v => (int)v!["version"]!));
        Assert.Equal(1, (int)versions["active_version"]!);
        // Nothing written: the same files, untouched, and no staging file left behind.
        Assert.Equal(before, Directory.EnumerateFiles(directory).ToDictionary(f => f, File.GetLastWriteTimeUtc));
        Assert.Empty(Directory.GetFiles(Path.Combine(Factory.StorageRoot, "tmp")));
    }

    [Fact]
    public async Task UploadModel_Returns201AsANewVersion_WhenTheFileDiffersFromTheActiveVersionOnlyInItsMetadata()
    {
        await Client.PutModelAsync("demand", Forecaster.File);

        HttpResponseMessage response = await Client.PutModelAsync("demand", TestModelFiles.Described(Forecaster, "retrained"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(2, (int)(await response.JsonAsync())["version"]!);
        Assert.Equal(2, (int)(await (await Client.GetAsync("/v1/models/demand")).JsonAsync())["version"]!);
    }

    [Fact]
    public async Task UploadModel_Returns201AsANewActiveVersion_WhenTheFileIsAnOlderInactiveVersions()
    {
        await Client.PutModelAsync("demand", Forecaster.File);
        await Client.PutModelAsync("demand", OtherForecaster.File);

        HttpResponseMessage response = await Client.PutModelAsync("demand", Forecaster.File);

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        Assert.Equal(3, (int)(await response.JsonAsync())["version"]!);
        JsonObject versions = await (await Client.GetAsync("/v1/models/demand/versions")).JsonAsync();
        Assert.Equal(3, (int)versions["active_version"]!);
        Assert.Equal(versions["versions"]![0]!["sha256"]!.ToString(), versions["versions"]![2]!["sha256"]!.ToString());
    }

    [Fact]
    public async Task UploadModel_Returns200_WhenTheFileIsTheVersionARollbackActivated()
    {
        await Client.PutModelAsync("demand", Forecaster.File);
        await Client.PutModelAsync("demand", OtherForecaster.File);
        Assert.Equal(HttpStatusCode.OK, (await Client.PostAsync("/v1/models/demand/versions/1/activate", null)).StatusCode);

        HttpResponseMessage response = await Client.PutModelAsync("demand", Forecaster.File);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(1, (int)(await response.JsonAsync())["version"]!);
        Assert.Equal(2, (await (await Client.GetAsync("/v1/models/demand/versions")).JsonAsync())["versions"]!.AsArray().Count);
    }

    [Fact]
    public async Task ConcurrentIdenticalUploadsToANewName_StoreOneVersion_OneAnswers201AndTheOthers200()
    {
        HttpResponseMessage[] responses = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => Client.PutModelAsync("raced", Forecaster.File)));

        Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Created);
        Assert.Equal(7, responses.Count(r => r.StatusCode == HttpStatusCode.OK));
        Assert.All(await Task.WhenAll(responses.Select(async r => (int)(await r.JsonAsync())["version"]!)), version => Assert.Equal(1, version));
        Assert.Single((await (await Client.GetAsync("/v1/models/raced/versions")).JsonAsync())["versions"]!.AsArray());
        Assert.Empty(Directory.GetFiles(Path.Combine(Factory.StorageRoot, "tmp")));
    }

    [Fact]
    public async Task UploadModel_RejectsCorruptFile_AndKeepsServingTheActiveVersion()
    {
        await Client.PutModelAsync("demand", Forecaster.File);
        string request = HttpTestExtensions.Serialize(Forecaster.Inputs);
        string before = await (await Client.PostJsonAsync("/v1/models/demand/forecast", request)).Content.ReadAsStringAsync();

        byte[] corrupt = (byte[])Forecaster.File.Clone();
        corrupt[^5] = 0xFF; corrupt[^6] = 0xFF; corrupt[^7] = 0xFF; corrupt[^8] = 0x7F; // a NaN in the last tensor
        string detail = await (await Client.PutModelAsync("demand", corrupt)).AssertProblemAsync(400, "invalid_model_file");
        Assert.Contains("non-finite", detail);
        string truncated = await (await Client.PutModelAsync("demand", Forecaster.File[..100])).AssertProblemAsync(400, "invalid_model_file");
        Assert.Contains("header length", truncated);
        await (await Client.PutModelAsync("demand", [])).AssertProblemAsync(400, "invalid_model_file");

        string after = await (await Client.PostJsonAsync("/v1/models/demand/forecast", request)).Content.ReadAsStringAsync();
        Assert.Equal(before, after);
        JsonObject versions = await (await Client.GetAsync("/v1/models/demand/versions")).JsonAsync();
        Assert.Single(versions["versions"]!.AsArray());
        Assert.Empty(Directory.GetFiles(Path.Combine(Factory.StorageRoot, "tmp")));
    }

    [Fact]
    public async Task UploadModel_Returns409_AndKeepsServing_WhenTheFileIsAModelOfAnotherTask()
    {
        await Client.PutModelAsync("demand", Forecaster.File);
        string request = HttpTestExtensions.Serialize(Forecaster.Inputs);
        string before = await (await Client.PostJsonAsync("/v1/models/demand/forecast", request)).Content.ReadAsStringAsync();

        string detail = await (await Client.PutModelAsync("demand", Classifier.File)).AssertProblemAsync(409, "task_mismatch");

        Assert.Contains("'demand' is a forecast model, so a classify model cannot be a version of it", detail);
        Assert.Equal(before, await (await Client.PostJsonAsync("/v1/models/demand/forecast", request)).Content.ReadAsStringAsync());
        JsonObject versions = await (await Client.GetAsync("/v1/models/demand/versions")).JsonAsync();
        Assert.Single(versions["versions"]!.AsArray());
        Assert.Empty(Directory.GetFiles(Path.Combine(Factory.StorageRoot, "tmp")));
    }

    [Fact]
    public async Task ConcurrentUploadsOfBothTasksToANewName_StoreOneTask_AndAnswer201Or409()
    {
        // Distinct files (each described differently), so that none is answered 200 for being the active version already.
        ReferenceModel[] models = [.. Enumerable.Range(0, 8).Select(i => i % 2 == 0 ? Forecaster : Classifier)];

        HttpResponseMessage[] responses = await Task.WhenAll(models.Select((model, i) => Client.PutModelAsync("raced", TestModelFiles.Described(model, $"copy {i}"))));

        JsonObject[] stored = [.. await Task.WhenAll(responses.Where(r => r.StatusCode == HttpStatusCode.Created).Select(r => r.JsonAsync()))];
        Assert.Equal(4, stored.Length);
        Assert.Single(stored.Select(card => (string?)card["task"]).Distinct());
        foreach (HttpResponseMessage refused in responses.Where(r => r.StatusCode != HttpStatusCode.Created))
            await refused.AssertProblemAsync(409, "task_mismatch");
        JsonObject versions = await (await Client.GetAsync("/v1/models/raced/versions")).JsonAsync();
        Assert.Equal(stored.Select(card => (string)card["sha256"]!).Order(), versions["versions"]!.AsArray().Select(v => (string)v!["sha256"]!).Order());
        Assert.Empty(Directory.GetFiles(Path.Combine(Factory.StorageRoot, "tmp")));
    }

    [Fact]
    public async Task ActivateVersion_Returns409_AndKeepsServing_ForAStoredVersionOfAnotherTask()
    {
        await Client.PutModelAsync("demand", Forecaster.File);
        // Such a version can be neither uploaded nor added to the store; a store written before the rule (or by hand) may still hold one.
        await File.WriteAllBytesAsync(Path.Combine(Factory.StorageRoot, "models", "demand", "2.safetensors"), Classifier.File);

        string detail = await (await Client.PostAsync("/v1/models/demand/versions/2/activate", null)).AssertProblemAsync(409, "task_mismatch");

        Assert.Contains("Version 2 was not activated", detail);
        // Advice for uploads (another name, or delete the model) does not fit a version already stored.
        Assert.DoesNotContain("delete 'demand' first", detail);
        Assert.Equal(1, (int)(await (await Client.GetAsync("/v1/models/demand")).JsonAsync())["version"]!);
        Assert.Equal(HttpStatusCode.OK, (await Client.PostJsonAsync("/v1/models/demand/forecast", HttpTestExtensions.Serialize(Forecaster.Inputs))).StatusCode);
    }

    [Fact]
    public async Task UploadModel_Returns400_ForRejectedFileOfNewModel_AndCreatesNothing()
    {
        await (await Client.PutModelAsync("never", [1, 2, 3])).AssertProblemAsync(400, "invalid_model_file");
        await (await Client.GetAsync("/v1/models/never")).AssertProblemAsync(404, "unknown_model");
        await (await Client.GetAsync("/v1/models/never/versions")).AssertProblemAsync(404, "unknown_model");
    }

    [Fact]
    public async Task UploadModel_Returns400SayingHowToSaveSafetensors_ForATorchSaveFile_AndCreatesNothing()
    {
        // The layout torch.save writes: a zip archive holding the pickle and the tensors' storages.
        using var pt = new MemoryStream();
        using (var zip = new System.IO.Compression.ZipArchive(pt, System.IO.Compression.ZipArchiveMode.Create, leaveOpen: true))
        {
            foreach (string entry in new[] { "model/data.pkl", "model/data/0", "model/version" })
                await using (Stream stream = zip.CreateEntry(entry).Open()) await stream.WriteAsync(new byte[256]);
        }
        string detail = await (await Client.PutModelAsync("never", pt.ToArray())).AssertProblemAsync(400, "invalid_model_file");
        Assert.Contains("as torch.save writes: a pickled PyTorch checkpoint, not a safetensors file", detail);
        Assert.Contains("safetensors.torch.save_file(model.state_dict(), \"model.safetensors\"", detail);
        await (await Client.GetAsync("/v1/models/never")).AssertProblemAsync(404, "unknown_model");
    }

    [Fact]
    public async Task UploadModel_Returns415_ForMultipartForm()
    {
        var form = new MultipartFormDataContent { { new ByteArrayContent(Forecaster.File), "file", "model.safetensors" } };
        await (await Client.PutAsync("/v1/models/demand", form)).AssertProblemAsync(415, "unsupported_media_type");
    }

    [Fact]
    public async Task ListVersions_ShowsEveryVersionAndTheActiveOne()
    {
        await Client.PutModelAsync("demand", Forecaster.File);
        await Client.PutModelAsync("demand", OtherForecaster.File);
        JsonObject body = await (await Client.GetAsync("/v1/models/demand/versions")).JsonAsync();
        Assert.Equal(2, (int)body["active_version"]!);
        JsonArray versions = body["versions"]!.AsArray();
        Assert.Equal([1, 2], versions.Select(v => (int)v!["version"]!));
        Assert.Equal([false, true], versions.Select(v => (bool)v!["active"]!));
    }

    [Fact]
    public async Task ActivateVersion_RollsBackAndForward()
    {
        await Client.PutModelAsync("demand", Forecaster.File);
        await Client.PutModelAsync("demand", OtherForecaster.File);

        JsonObject rolledBack = await (await Client.PostAsync("/v1/models/demand/versions/1/activate", null)).JsonAsync();
        Assert.Equal(1, (int)rolledBack["version"]!);
        JsonObject answer = await (await Client.PostJsonAsync("/v1/models/demand/forecast", HttpTestExtensions.Serialize(Forecaster.Inputs))).JsonAsync();
        Assert.Equal(1, (int)answer["version"]!);

        JsonObject forward = await (await Client.PostAsync("/v1/models/demand/versions/2/activate", null)).JsonAsync();
        Assert.Equal(2, (int)forward["version"]!);
        Assert.Equal(2, (int)(await (await Client.GetAsync("/v1/models/demand")).JsonAsync())["version"]!);
    }

    [Fact]
    public async Task ActivateVersion_Returns404_ForUnknownVersionOrModel()
    {
        await Client.PutModelAsync("demand", Forecaster.File);
        string detail = await (await Client.PostAsync("/v1/models/demand/versions/7/activate", null)).AssertProblemAsync(404, "unknown_version");
        Assert.Contains("no version 7", detail);
        await (await Client.PostAsync("/v1/models/ghost/versions/1/activate", null)).AssertProblemAsync(404, "unknown_model");
    }

    [Theory]
    [InlineData("abc")]
    [InlineData("1.5")]
    [InlineData("99999999999")]
    [InlineData("0")]
    [InlineData("-1")]
    [InlineData("+1")]
    public async Task ActivateVersion_Returns400_ForAVersionThatIsNotAPositiveInteger(string version)
    {
        await Client.PutModelAsync("demand", Forecaster.File);
        string detail = await (await Client.PostAsync($"/v1/models/demand/versions/{Uri.EscapeDataString(version)}/activate", null))
            .AssertProblemAsync(400, "invalid_version");
        Assert.Contains($"'{version}' is not a version", detail);
        Assert.Contains("positive integers", detail);
        Assert.Equal(1, (int)(await (await Client.GetAsync("/v1/models/demand")).JsonAsync())["version"]!);
    }

    [Fact]
    public async Task DeleteModel_RemovesEveryVersion_ThenAnswers404()
    {
        await Client.PutModelAsync("demand", Forecaster.File);
        await Client.PutModelAsync("demand", OtherForecaster.File);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync("/v1/models/demand")).StatusCode);
        await (await Client.GetAsync("/v1/models/demand")).AssertProblemAsync(404, "unknown_model");
        await (await Client.PostJsonAsync("/v1/models/demand/forecast", HttpTestExtensions.Serialize(Forecaster.Inputs))).AssertProblemAsync(404, "unknown_model");
        await (await Client.DeleteAsync("/v1/models/demand")).AssertProblemAsync(404, "unknown_model");
        // A new upload under the same name starts again at version 1.
        Assert.Equal(1, (int)(await (await Client.PutModelAsync("demand", Forecaster.File)).JsonAsync())["version"]!);
    }

    [Fact]
    public async Task UnknownRoute_Returns404Problem()
    {
        await (await Client.GetAsync("/v1/nothing")).AssertProblemAsync(404, "not_found");
    }

    [Fact]
    public async Task WrongMethod_Returns405Problem()
    {
        await (await Client.PatchAsync("/v1/models/demand", null)).AssertProblemAsync(405, "method_not_allowed");
    }
}

public class ModelPersistenceTests
{
    [Fact]
    public async Task UploadedVersions_SurviveARestart_WithTheSameActiveVersion()
    {
        ReferenceModel first = ReferenceModel.Load(8), second = ReferenceModel.Load(18);
        string root = Directory.CreateTempSubdirectory("gru-restart-").FullName;
        try
        {
            string request = HttpTestExtensions.Serialize(first.Inputs);
            string answer;
            using (var before = new GruServiceFactory(root))
            {
                HttpClient client = await before.ReadyClientAsync();
                await client.PutModelAsync("demand", first.File);
                await client.PutModelAsync("demand", second.File);
                await client.PostAsync("/v1/models/demand/versions/1/activate", null);
                answer = await (await client.PostJsonAsync("/v1/models/demand/forecast", request)).Content.ReadAsStringAsync();
            }
            using var after = new GruServiceFactory(root);
            HttpClient restarted = await after.ReadyClientAsync();
            JsonObject card = await (await restarted.GetAsync("/v1/models/demand")).JsonAsync();
            Assert.Equal(1, (int)card["version"]!);
            Assert.Equal(2, (await (await restarted.GetAsync("/v1/models/demand/versions")).JsonAsync())["versions"]!.AsArray().Count);
            Assert.Equal(answer, await (await restarted.PostJsonAsync("/v1/models/demand/forecast", request)).Content.ReadAsStringAsync());
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task ActivateVersion_Returns409_ForAVersionOfAnotherTaskThanTheStoreRecords_WhenTheModelIsNotServed()
    {
        ReferenceModel forecaster = ReferenceModel.Load(8), classifier = ReferenceModel.Load(5);
        string root = Directory.CreateTempSubdirectory("gru-activate-task-").FullName;
        try
        {
            using (var before = new GruServiceFactory(root))
                await (await before.ReadyClientAsync()).PutModelAsync("demand", forecaster.File);
            // The active version is damaged, so the restarted service serves nothing for 'demand' and its own check has
            // no task to compare with; a version of the other task is beside it (by hand, or from before the rule).
            string directory = Path.Combine(root, "models", "demand");
            await File.WriteAllBytesAsync(Path.Combine(directory, "1.safetensors"), [1, 2, 3]);
            await File.WriteAllBytesAsync(Path.Combine(directory, "2.safetensors"), classifier.File);
            using var after = new GruServiceFactory(root);
            HttpClient client = await after.ReadyClientAsync();
            await (await client.GetAsync("/v1/models/demand")).AssertProblemAsync(404, "unknown_model");

            string detail = await (await client.PostAsync("/v1/models/demand/versions/2/activate", null)).AssertProblemAsync(409, "task_mismatch");

            Assert.Contains("Version 2 was not activated", detail);
            Assert.Contains("'demand' is a forecast model, so a classify model cannot be a version of it", detail);
            Assert.Equal("1", await File.ReadAllTextAsync(Path.Combine(directory, "active")));
            await (await client.GetAsync("/v1/models/demand")).AssertProblemAsync(404, "unknown_model");
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task BundledModels_AreImportedOnce_AndNotOverwritten()
    {
        string bundled = Directory.CreateTempSubdirectory("gru-bundled-").FullName;
        string root = Directory.CreateTempSubdirectory("gru-bundled-root-").FullName;
        try
        {
            File.WriteAllBytes(Path.Combine(bundled, "default-forecaster.safetensors"), ReferenceModel.Load(8).File);
            File.WriteAllBytes(Path.Combine(bundled, "broken.safetensors"), [1, 2, 3, 4, 5, 6, 7, 8, 9]);
            var settings = new Dictionary<string, string?> { ["Models:BundledDirectory"] = bundled };
            using (var first = new GruServiceFactory(root, settings))
            {
                HttpClient client = await first.ReadyClientAsync();
                JsonObject list = await (await client.GetAsync("/v1/models")).JsonAsync();
                Assert.Equal(["default-forecaster"], list["models"]!.AsArray().Select(m => (string?)m!["name"]));
                await client.PutModelAsync("default-forecaster", ReferenceModel.Load(18).File);
            }
            using var second = new GruServiceFactory(root, settings);
            HttpClient again = await second.ReadyClientAsync();
            JsonObject card = await (await again.GetAsync("/v1/models/default-forecaster")).JsonAsync();
            Assert.Equal(2, (int)card["version"]!);
        }
        finally
        {
            Directory.Delete(bundled, recursive: true);
            Directory.Delete(root, recursive: true);
        }
    }
}

public class ModelUploadLoggingTests
{
    [Fact]
    public async Task UploadModel_LogsUnchanged_AndNoSwap_WhenTheFileIsTheActiveVersions()
    {
        ReferenceModel model = ReferenceModel.Load(8);
        var logs = new CapturingLoggerProvider();
        using var factory = new GruServiceFactory { ConfigureTestServices = services => services.AddSingleton<ILoggerProvider>(logs) };
        HttpClient client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("demand", model.File)).StatusCode);
        int swaps = RegistryEvents(logs, "now serves version").Length;

        Assert.Equal(HttpStatusCode.OK, (await client.PutModelAsync("demand", model.File)).StatusCode);

        LogEvent unchanged = Assert.Single(RegistryEvents(logs, "unchanged"));
        Assert.Equal(LogLevel.Information, unchanged.Level);
        Assert.Equal("demand", unchanged.State["Model"]);
        Assert.Equal(1, unchanged.State["Version"]);
        Assert.Equal(swaps, RegistryEvents(logs, "now serves version").Length);
    }

    private static LogEvent[] RegistryEvents(CapturingLoggerProvider logs, string text) =>
        [.. logs.Events.Where(e => e.Category.EndsWith("ModelRegistry", StringComparison.Ordinal)
            && ((string?)e.State.GetValueOrDefault("{OriginalFormat}"))?.Contains(text, StringComparison.Ordinal) == true)];
}
