using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using GruService.Api.Tests.Datasets;

namespace GruService.Api.Tests.Training;

public static class TrainingRequests
{
    /// <summary>A noisy sine as inline series: "series": [[y0, y1, ...]] with bare numbers.</summary>
    public static JsonArray Sine(int length, int seed = 1)
    {
        var random = new Random(seed);
        return new JsonArray(new JsonArray([.. Enumerable.Range(0, length).Select(t =>
            (JsonNode?)JsonValue.Create(Math.Round(Math.Sin(2 * Math.PI * t / 20) + 0.05 * (random.NextDouble() - 0.5), 4)))]));
    }

    public static JsonObject Forecast(string model, int epochs, JsonArray? series = null) => new()
    {
        ["model"] = model,
        ["task"] = "forecast",
        ["data"] = new JsonObject { ["series"] = series ?? Sine(400) },
        ["window"] = 20,
        ["horizon"] = 4,
        ["architecture"] = new JsonObject { ["hidden_size"] = 12 },
        ["hyperparameters"] = new JsonObject { ["epochs"] = epochs, ["learning_rate"] = 0.01, ["patience"] = 0, ["batch_size"] = 32 },
    };

    /// <summary>A <see cref="Forecast"/> job that trains on the stored dataset <paramref name="dataset"/> instead of inline data.</summary>
    public static JsonObject ForecastOnDataset(string dataset, string model, int epochs)
    {
        JsonObject request = Forecast(model, epochs);
        request.Remove("data");
        request["dataset"] = dataset;
        return request;
    }

    public static async Task<JsonObject> WaitAsync(HttpClient client, string id, Func<JsonObject, bool> done, int seconds = 60)
    {
        for (int i = 0; i < seconds * 20; i++)
        {
            JsonObject job = await (await client.GetAsync($"/v1/training-jobs/{id}")).JsonAsync();
            if (done(job)) return job;
            await Task.Delay(50);
        }
        throw new TimeoutException($"Job {id} did not get there in {seconds} s.");
    }

    /// <summary>Posts the job, asserts 202, returns its id.</summary>
    public static async Task<string> StartAsync(HttpClient client, JsonObject request)
    {
        HttpResponseMessage response = await client.PostJsonAsync("/v1/training-jobs", request.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (string)(await response.JsonAsync())["id"]!;
    }

    public static bool Finished(JsonObject job) => (string?)job["status"] is "succeeded" or "failed" or "cancelled";
}

public class TrainingJobsApiTests() : ServiceTestBase(new Dictionary<string, string?> { ["Training:ProgressIntervalSeconds"] = "0" })
{
    private async Task<string> StartAsync(JsonObject request)
    {
        HttpResponseMessage response = await Client.PostJsonAsync("/v1/training-jobs", request.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        JsonObject body = await response.JsonAsync();
        Assert.Equal("queued", (string?)body["status"]);
        Assert.Equal($"/v1/training-jobs/{body["id"]}", response.Headers.Location?.OriginalString);
        return (string)body["id"]!;
    }

    [Fact]
    public async Task StartJobExample_InTheOpenApiDocument_TrainsAndPublishesAModel()
    {
        JsonObject document = await (await Client.GetAsync("/openapi/v1.json")).JsonAsync();
        JsonNode example = document["paths"]!["/v1/training-jobs"]!["post"]!["requestBody"]!["content"]!["application/json"]!["example"]!;

        string id = await TrainingRequests.StartAsync(Client, example.AsObject());
        JsonObject job = await TrainingRequests.WaitAsync(Client, id, TrainingRequests.Finished, seconds: 120);

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        string model = (string)example["model"]!;
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync($"/v1/models/{model}")).StatusCode);
    }

    [Fact]
    public async Task ForecastJob_PublishesANewActiveVersion_ThatAnswersForecasts()
    {
        string id = await StartAsync(TrainingRequests.Forecast("sine", epochs: 8));
        JsonObject job = await TrainingRequests.WaitAsync(Client, id, TrainingRequests.Finished);

        Assert.Equal("succeeded", (string?)job["status"]);
        Assert.Equal(8, job["history"]!.AsArray().Count);
        Assert.Equal(8, (int)job["progress"]!["epoch"]!);
        JsonObject result = job["result"]!.AsObject();
        Assert.Equal(1, (int)result["version"]!);
        Assert.True((bool)result["activated"]!);
        Assert.True((double)result["metrics"]!["validation"]!["mse"]! < 0.05, result.ToJsonString());

        JsonObject card = await (await Client.GetAsync("/v1/models/sine")).JsonAsync();
        Assert.Equal(4, (int)card["horizon"]!);
        Assert.Equal(id, (string?)card["metadata"]!["training"]!["job"]);
        string window = "{\"inputs\": [[" + string.Join(", ", Enumerable.Range(0, 20).Select(t => Math.Sin(2 * Math.PI * t / 20).ToString("F4", System.Globalization.CultureInfo.InvariantCulture))) + "]]}";
        JsonArray forecast = (await (await Client.PostJsonAsync("/v1/models/sine/forecast", window)).JsonAsync())["forecasts"]![0]!.AsArray();
        // The next four values of the sine: sin(2π·20/20) … sin(2π·23/20).
        double[] expected = [.. Enumerable.Range(20, 4).Select(t => Math.Sin(2 * Math.PI * t / 20))];
        for (int h = 0; h < 4; h++) Assert.InRange((double)forecast[h]![0]!, expected[h] - 0.25, expected[h] + 0.25);
    }

    [Fact]
    public async Task ForecastJob_RecordsItsInputAndTargetColumnNames_InTheModelCard()
    {
        var csv = new System.Text.StringBuilder("date,load,temp,note\n");
        for (int t = 0; t < 120; t++)
            csv.Append(System.Globalization.CultureInfo.InvariantCulture, $"{new DateTime(2024, 1, 1).AddHours(t):yyyy-MM-dd HH:mm},{Math.Sin(t / 5.0):F4},{Math.Cos(t / 7.0):F4},ok\n");
        HttpResponseMessage upload = await Client.PostDatasetAsync(csv.ToString(), DatasetTestExtensions.Csv);
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        var request = new JsonObject
        {
            ["model"] = "named", ["task"] = "forecast", ["dataset"] = (string)(await upload.JsonAsync())["id"]!,
            ["window"] = 8, ["horizon"] = 2, ["inputs"] = new JsonArray("temp", "load"), ["targets"] = new JsonArray("load"),
            ["architecture"] = new JsonObject { ["hidden_size"] = 4 }, ["hyperparameters"] = new JsonObject { ["epochs"] = 1 },
        };
        JsonObject job = await TrainingRequests.WaitAsync(Client, await StartAsync(request), TrainingRequests.Finished);
        Assert.Equal("succeeded", (string?)job["status"]);

        JsonObject card = await (await Client.GetAsync("/v1/models/named")).JsonAsync();
        Assert.Equal(2, (int)card["input_size"]!);
        Assert.Equal(["temp", "load"], card["feature_names"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(["load"], card["target_names"]!.AsArray().Select(n => (string?)n));
        Assert.Equal(["temp", "load"], card["metadata"]!["feature_names"]!.AsArray().Select(n => (string?)n));
    }

    [Fact]
    public async Task ClassifyJob_LearnsInlineSequences_AndTheCardHasTheLabels()
    {
        var random = new Random(2);
        var inputs = new JsonArray();
        var labels = new JsonArray();
        for (int i = 0; i < 240; i++)
        {
            bool rising = i % 2 == 0;
            int length = 5 + random.Next(5);
            inputs.Add(new JsonArray([.. Enumerable.Range(0, length).Select(t => (JsonNode?)JsonValue.Create((rising ? t : -t) * 0.3 + random.NextDouble() * 0.2))]));
            labels.Add(rising ? "up" : "down");
        }
        var request = new JsonObject
        {
            ["model"] = "updown", ["task"] = "classify", ["data"] = new JsonObject { ["inputs"] = inputs, ["labels"] = labels },
            ["architecture"] = new JsonObject { ["hidden_size"] = 8 },
            ["hyperparameters"] = new JsonObject { ["epochs"] = 10, ["learning_rate"] = 0.01, ["batch_size"] = 16 },
        };
        JsonObject job = await TrainingRequests.WaitAsync(Client, await StartAsync(request), TrainingRequests.Finished);

        Assert.Equal("succeeded", (string?)job["status"]);
        Assert.True((double)job["result"]!["metrics"]!["validation"]!["accuracy"]! >= 0.95, job["result"]!.ToJsonString());
        JsonObject card = await (await Client.GetAsync("/v1/models/updown")).JsonAsync();
        Assert.Equal(["down", "up"], card["classes"]!.AsArray().Select(c => (string?)c));
        Assert.False(card.ContainsKey("feature_names")); // the sequences' steps have no names
        JsonObject prediction = await (await Client.PostJsonAsync("/v1/models/updown/classify", "{\"inputs\": [[0, 0.3, 0.6, 0.9, 1.2, 1.5]]}")).JsonAsync();
        Assert.Equal("up", (string?)prediction["predictions"]![0]!["label"]);
    }

    [Fact]
    public async Task ClassifyJob_TakesWholeNumberLabels_AndTheClassIndexIsTheNumber()
    {
        // Eleven classes 0..10, each a constant sequence at its own level: in ordinal order "10" would be class 2.
        var inputs = new JsonArray();
        var labels = new JsonArray();
        for (int i = 0; i < 110; i++)
        {
            int label = i % 11;
            inputs.Add(new JsonArray([.. Enumerable.Range(0, 4).Select(_ => (JsonNode?)JsonValue.Create(label * 0.2))]));
            labels.Add(label);
        }
        var request = new JsonObject
        {
            ["model"] = "levels", ["task"] = "classify", ["data"] = new JsonObject { ["inputs"] = inputs, ["labels"] = labels },
            ["architecture"] = new JsonObject { ["hidden_size"] = 4 },
            ["hyperparameters"] = new JsonObject { ["epochs"] = 1 },
        };
        JsonObject job = await TrainingRequests.WaitAsync(Client, await StartAsync(request), TrainingRequests.Finished);

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        JsonNode listed = (await (await Client.GetAsync("/v1/training-jobs")).JsonAsync())["jobs"]![0]!;
        Assert.Equal(11, (int)listed["request"]!["data"]!["labels"]!); // the job list counts the distinct inline labels
        JsonObject card = await (await Client.GetAsync("/v1/models/levels")).JsonAsync();
        Assert.Equal([.. Enumerable.Range(0, 11).Select(i => i.ToString(System.Globalization.CultureInfo.InvariantCulture))],
            card["classes"]!.AsArray().Select(c => (string)c!));
    }

    [Fact]
    public async Task Job_WithActivateFalse_KeepsTheActiveVersion()
    {
        await TrainingRequests.WaitAsync(Client, await StartAsync(TrainingRequests.Forecast("kept", epochs: 1)), TrainingRequests.Finished);
        JsonObject second = TrainingRequests.Forecast("kept", epochs: 1);
        second["activate"] = false;
        JsonObject job = await TrainingRequests.WaitAsync(Client, await StartAsync(second), TrainingRequests.Finished);

        Assert.Equal(2, (int)job["result"]!["version"]!);
        Assert.False((bool)job["result"]!["activated"]!);
        Assert.Equal(1, (int)(await (await Client.GetAsync("/v1/models/kept")).JsonAsync())["version"]!);
    }

    [Fact]
    public async Task RunningJob_CanBeCancelled_AndPublishesNothing()
    {
        string id = await StartAsync(TrainingRequests.Forecast("cancelled", epochs: 500, TrainingRequests.Sine(3000)));
        JsonObject running = await TrainingRequests.WaitAsync(Client, id, j => j["progress"] is JsonObject);
        Assert.True((double)running["progress"]!["remaining_seconds"]! > 0);
        HttpResponseMessage cancel = await Client.PostAsync($"/v1/training-jobs/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.Accepted, cancel.StatusCode);

        JsonObject job = await TrainingRequests.WaitAsync(Client, id, TrainingRequests.Finished);
        Assert.Equal("cancelled", (string?)job["status"]);
        // The record keeps where the job was, with no time left: it is over.
        Assert.Equal(0, (double)job["progress"]!["remaining_seconds"]!);
        await (await Client.GetAsync("/v1/models/cancelled")).AssertProblemAsync(404, "unknown_model");
        // Cancelling again is harmless: 202 with the record, which stays cancelled.
        HttpResponseMessage again = await Client.PostAsync($"/v1/training-jobs/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.Accepted, again.StatusCode);
        JsonObject record = await again.JsonAsync();
        Assert.Equal(id, (string?)record["id"]);
        Assert.Equal("cancelled", (string?)record["status"]);
    }

    [Fact]
    public async Task StartJob_Returns400_WhenTheDatasetsRecordShowsTheJobCannotTrain()
    {
        async Task<string> UploadAsync(string body, string type) => (string)(await (await Client.PostDatasetAsync(body, type)).JsonAsync())["id"]!;
        string shortSeries = await UploadAsync("y\n1\n2\n3\n", DatasetTestExtensions.Csv);
        string oneLabel = await UploadAsync("{\"label\": \"a\", \"sequence\": [1, 2]}\n{\"label\": \"a\", \"sequence\": [3]}\n", DatasetTestExtensions.Ndjson);
        string twoLabels = await UploadAsync("{\"label\": \"a\", \"sequence\": [1, 2]}\n{\"label\": \"b\", \"sequence\": [3]}\n", DatasetTestExtensions.Ndjson);

        async Task<string> RefusedAsync(string body) =>
            await (await Client.PostJsonAsync("/v1/training-jobs", body)).AssertProblemAsync(400, "invalid_training_job");

        Assert.Contains("the longest series of dataset", await RefusedAsync($$"""{"model": "m", "task": "forecast", "dataset": "{{shortSeries}}", "window": 3, "horizon": 1}"""));
        Assert.Contains("has the label 'a'; a classifier needs at least two labels", await RefusedAsync($$"""{"model": "m", "task": "classify", "dataset": "{{oneLabel}}"}"""));
        Assert.Contains("names 'zzz', which is not a label of dataset",
            await RefusedAsync($$"""{"model": "m", "task": "classify", "dataset": "{{twoLabels}}", "hyperparameters": {"class_weights": {"zzz": 2} } }"""));
        Assert.Empty((await (await Client.GetAsync("/v1/training-jobs")).JsonAsync())["jobs"]!.AsArray());
    }

    [Fact]
    public async Task StartJob_Returns400_WhenAChannelIndependentJobsTargetsAreNotTheDatasetsInputs()
    {
        HttpResponseMessage upload = await Client.PostDatasetAsync("load,temp\n" + string.Join("\n", Enumerable.Range(0, 40).Select(i => $"{i},{-i}")) + "\n", DatasetTestExtensions.Csv);
        string dataset = (string)(await upload.JsonAsync())["id"]!;

        string detail = await (await Client.PostJsonAsync("/v1/training-jobs",
            $$"""{"model": "m", "task": "forecast", "dataset": "{{dataset}}", "window": 4, "horizon": 1, "targets": ["temp"], "architecture": {"channel_independent": true} }"""))
            .AssertProblemAsync(400, "invalid_training_job");

        Assert.Equal("A channel-independent model forecasts each input column: the targets (temp) must be the inputs (load, temp), in the same order.", detail);
        Assert.Empty((await (await Client.GetAsync("/v1/training-jobs")).JsonAsync())["jobs"]!.AsArray());
    }

    public static TheoryData<string, string, string, bool> ValidationDatasetMisfits()
    {
        var cases = new TheoryData<string, string, string, bool>();
        foreach (bool inline in new[] { false, true })
        {
            cases.Add(
                "{\"label\": \"a\", \"sequence\": [[1, 2]]}\n{\"label\": \"b\", \"sequence\": [[3, 4]]}\n",
                "{\"label\": \"a\", \"sequence\": [1]}\n",
                "validation_dataset has 1 feature per step; the training data has 2.", inline);
            cases.Add(
                "{\"label\": \"flat\", \"sequence\": [1]}\n{\"label\": \"rise\", \"sequence\": [2]}\n",
                "{\"label\": \"rise\", \"sequence\": [1]}\n{\"label\": \"jump\", \"sequence\": [9]}\n",
                "validation_dataset has the label 'jump', which no training sequence has.", inline);
        }
        return cases;
    }

    /// <summary>The training data as a stored dataset, or sent inline: either way it is checked against the validation dataset's record before the job is queued.</summary>
    [Theory]
    [MemberData(nameof(ValidationDatasetMisfits))]
    public async Task StartJob_Returns400_WhenTheValidationDatasetDoesNotFitTheTrainingData(string trainingNdjson, string validationNdjson, string expected, bool inline)
    {
        string validation = await UploadSequencesAsync(validationNdjson);
        string data;
        if (inline)
        {
            JsonObject[] lines = [.. trainingNdjson.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonNode.Parse(line)!.AsObject())];
            data = new JsonObject
            {
                ["inputs"] = new JsonArray([.. lines.Select(l => l["sequence"]!.DeepClone())]),
                ["labels"] = new JsonArray([.. lines.Select(l => l["label"]!.DeepClone())]),
            }.ToJsonString();
            data = $"\"data\": {data}";
        }
        else
        {
            data = $"\"dataset\": \"{await UploadSequencesAsync(trainingNdjson)}\"";
        }

        string detail = await (await Client.PostJsonAsync("/v1/training-jobs",
            $$"""{"model": "m", "task": "classify", {{data}}, "validation_dataset": "{{validation}}"}""")).AssertProblemAsync(400, "invalid_training_job");

        Assert.Equal(expected, detail);
        Assert.Empty((await (await Client.GetAsync("/v1/training-jobs")).JsonAsync())["jobs"]!.AsArray());
    }

    private async Task<string> UploadSequencesAsync(string ndjson)
    {
        HttpResponseMessage upload = await Client.PostDatasetAsync(ndjson, DatasetTestExtensions.Ndjson);
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        return (string)(await upload.JsonAsync())["id"]!;
    }

    [Fact]
    public async Task StartJob_Returns409_AndQueuesNothing_WhenTheModelIsOfAnotherTask()
    {
        Assert.Equal(HttpStatusCode.Created, (await Client.PutModelAsync("labels", ReferenceModel.Load(5).File)).StatusCode);

        string detail = await (await Client.PostJsonAsync("/v1/training-jobs", TrainingRequests.Forecast("labels", epochs: 1).ToJsonString()))
            .AssertProblemAsync(409, "task_mismatch");

        Assert.Contains("'labels' is a classify model, so a forecast model cannot be a version of it", detail);
        Assert.Empty((await (await Client.GetAsync("/v1/training-jobs")).JsonAsync())["jobs"]!.AsArray());
    }

    [Fact]
    public async Task Job_FailsAndPublishesNothing_WhenItsModelBecomesOneOfAnotherTaskWhileItTrains()
    {
        string id = await StartAsync(TrainingRequests.Forecast("contested", epochs: 30, TrainingRequests.Sine(3000)));
        await TrainingRequests.WaitAsync(Client, id, j => (string?)j["status"] == "running");
        Assert.Equal(HttpStatusCode.Created, (await Client.PutModelAsync("contested", ReferenceModel.Load(5).File)).StatusCode);

        JsonObject job = await TrainingRequests.WaitAsync(Client, id, TrainingRequests.Finished, seconds: 120);

        Assert.Equal("failed", (string?)job["status"]);
        Assert.Contains("'contested' is a classify model, so a forecast model cannot be a version of it", (string?)job["error"]);
        JsonObject versions = await (await Client.GetAsync("/v1/models/contested/versions")).JsonAsync();
        Assert.Single(versions["versions"]!.AsArray());
        // It checkpointed every epoch; a failed job is final, so nothing is kept for a resume.
        Assert.Equal(30, job["history"]!.AsArray().Count);
        Assert.False(Directory.Exists(Path.Combine(Factory.StorageRoot, "jobs", id)));
    }

    [Fact]
    public async Task DeleteDataset_Returns409_WhileAJobTrainsOnIt_AndSucceedsOnceTheJobEnds()
    {
        HttpResponseMessage upload = await Client.PostDatasetAsync(StorageFaults.StorageFaultApiTests.SineCsv(3000), DatasetTestExtensions.Csv, "sine");
        string dataset = (string)(await upload.JsonAsync())["id"]!;
        JsonObject request = TrainingRequests.ForecastOnDataset(dataset, "busy", epochs: 500);
        string id = await StartAsync(request);
        await TrainingRequests.WaitAsync(Client, id, j => (string?)j["status"] == "running");

        string detail = await (await Client.DeleteAsync($"/v1/datasets/{dataset}")).AssertProblemAsync(409, "dataset_in_use");

        Assert.Contains(id, detail);
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync($"/v1/datasets/{dataset}")).StatusCode);
        Assert.Equal(HttpStatusCode.Accepted, (await Client.PostAsync($"/v1/training-jobs/{id}/cancel", null)).StatusCode);
        await TrainingRequests.WaitAsync(Client, id, TrainingRequests.Finished);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/datasets/{dataset}")).StatusCode);
    }

    [Fact]
    public async Task FailingJob_IsMarkedFailedWithTheReason_AndItsDataStaysIntact()
    {
        // 60 rows fit one window of 48 + 12, so the job is accepted; the validation part (20 %) leaves 48 to train on.
        string csv = "date,y\n" + string.Join("\n", Enumerable.Range(0, 60).Select(i => $"{new DateTime(2024, 1, 1).AddDays(i):yyyy-MM-dd},{i}")) + "\n";
        HttpResponseMessage upload = await Client.PostAsync("/v1/datasets?name=short",
            new StringContent(csv, System.Text.Encoding.UTF8, "text/csv"));
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        string dataset = (string)(await upload.JsonAsync())["id"]!;
        var request = new JsonObject { ["model"] = "too-short", ["task"] = "forecast", ["dataset"] = dataset, ["window"] = 48, ["horizon"] = 12 };

        JsonObject job = await TrainingRequests.WaitAsync(Client, await StartAsync(request), TrainingRequests.Finished);
        Assert.Equal("failed", (string?)job["status"]);
        Assert.Contains("No training window fits", (string?)job["error"]);
        Assert.DoesNotContain("(Parameter '", (string?)job["error"]);
        Assert.Equal(60, (int)(await (await Client.GetAsync($"/v1/datasets/{dataset}")).JsonAsync())["rows"]!);
        await (await Client.GetAsync("/v1/models/too-short")).AssertProblemAsync(404, "unknown_model");
    }

    [Fact]
    public async Task StartJob_Returns400Saying1Label_WhenOneLabelIsGivenForTwoSequences()
    {
        var request = new JsonObject
        {
            ["model"] = "one-label", ["task"] = "classify",
            ["data"] = new JsonObject { ["inputs"] = new JsonArray(new JsonArray(1, 2), new JsonArray(3, 4)), ["labels"] = new JsonArray("a") },
        };

        string detail = await (await Client.PostJsonAsync("/v1/training-jobs", request.ToJsonString())).AssertProblemAsync(400, "invalid_training_job");

        Assert.Contains("data.inputs has 2 sequences and data.labels 1 label;", detail);
    }

    [Fact]
    public async Task ListJobs_FiltersByStatus()
    {
        string id = await StartAsync(TrainingRequests.Forecast("listed", epochs: 1));
        await TrainingRequests.WaitAsync(Client, id, TrainingRequests.Finished);
        JsonArray succeeded = (await (await Client.GetAsync("/v1/training-jobs?status=succeeded")).JsonAsync())["jobs"]!.AsArray();
        Assert.Contains(succeeded, j => (string?)j!["id"] == id);
        Assert.Empty((await (await Client.GetAsync("/v1/training-jobs?status=failed")).JsonAsync())["jobs"]!.AsArray());
        await (await Client.GetAsync("/v1/training-jobs?status=done")).AssertProblemAsync(400, "invalid_status");
        await (await Client.PostAsync($"/v1/training-jobs/{id}/cancel", null)).AssertProblemAsync(409, "job_finished");
        await (await Client.GetAsync("/v1/training-jobs/nope")).AssertProblemAsync(404, "unknown_training_job");
    }

    public static TheoryData<string, string> InvalidRequests => new()
    {
        // The document requires model and task; a body without them still gets the planner's answer, not the serializer's.
        { """{"task": "forecast", "data": {"series": [[1, 2]]}}""", "'model' is required" },
        { """{"model": null, "task": "forecast", "data": {"series": [[1, 2]]}}""", "'model' is required" },
        { """{"model": "m", "data": {"series": [[1, 2]]}}""", "'task' is missing; it must be 'forecast' or 'classify'." },
        { """{"model": "Bad Name", "task": "forecast", "data": {"series": [[1, 2]]}}""", "not a valid model name" },
        { """{"model": "m", "task": "regress", "data": {"series": [[1, 2]]}}""", "'task' is 'regress'" },
        { """{"model": "m", "task": "forecast"}""", "exactly one of 'dataset'" },
        { """{"model": "m", "task": "forecast", "dataset": "nope"}""", "There is no dataset 'nope'" },
        { """{"model": "m", "task": "forecast", "data": {"series": [[1]]}, "validation_split": 1.5}""", "'validation_split' is 1.5" },
        { """{"model": "m", "task": "forecast", "data": {"series": [[1]]}, "horizon": 0}""", "'horizon' is 0" },
        { """{"model": "m", "task": "classify", "data": {"inputs": [[1]], "labels": ["a"]}, "window": 4}""", "are for forecast jobs" },
        { """{"model": "m", "task": "forecast", "data": {"series": [[1]]}, "architecture": {"hidden_size": 0}}""", "'architecture.hidden_size' is 0" },
        { """{"model": "m", "task": "forecast", "data": {"series": [[1]]}, "architecture": {"dropout": 1}}""", "'architecture.dropout' is 1" },
        { """{"model": "m", "task": "forecast", "data": {"series": [[1]]}, "hyperparameters": {"optimizer": "sgd"}}""", "'hyperparameters.optimizer' is 'sgd'" },
        { """{"model": "m", "task": "forecast", "data": {"series": [[1]]}, "hyperparameters": {"learning_rate": -1}}""", "'hyperparameters.learning_rate' is -1" },
        { """{"model": "m", "task": "forecast", "data": {"series": [[1]]}, "hyperparameters": {"epochs": 0}}""", "'hyperparameters.epochs' is 0" },
        { """{"model": "m", "task": "forecast", "data": {"series": [[1]]}, "hyperparameters": {"window_normalization": "z"}}""", "'hyperparameters.window_normalization' is 'z'" },
        { """{"model": "m", "task": "classify", "data": {"inputs": [[1]], "labels": ["a"]}, "hyperparameters": {"loss": "mae"}}""", "are for forecast jobs" },
        // Bodies that do not fit a training job: the place, what was sent and what is expected, in the API's words.
        { """{"model": "m", "task": "forecast", "datset": "typo"}""", "Unknown property 'datset'; did you mean 'dataset'?" },
        { """{"model": "m", "task": "forecast", "data": {"series": [[1]]}, "architecture": {"hiden_size": 3}}""",
            "Unknown property 'architecture.hiden_size'; did you mean 'architecture.hidden_size'?" },
        { """{"model": "m", "task": "forecast", "hyperparameters": {"epoch": 3}}""", "Unknown property 'hyperparameters.epoch'; did you mean 'hyperparameters.epochs'?" },
        { """{"model": "m", "task": "forecast", "hyperparameters": {"learningRate": 0.1}}""", "did you mean 'hyperparameters.learning_rate'?" },
        { """{"model": "m", "task": "forecast", "colour": 1}""", "Unknown property 'colour'; the body's properties are model, task, dataset, data," },
        { """{"model": "m", "task": "forecast", "hyperparameters": {"epochs": "3"}}""", "'hyperparameters.epochs' is \"3\"; it must be an integer." },
        { """{"model": "m", "task": "forecast", "hyperparameters": {"epochs": 1.5}}""", "'hyperparameters.epochs' is 1.5; it must be an integer." },
        { """{"model": "m", "task": "forecast", "window": 99999999999}""", "'window' is 99999999999; it must be an integer from -2147483648 to 2147483647." },
        { """{"model": "m", "task": "forecast", "hyperparameters": {"seed": -1}}""", "'hyperparameters.seed' is -1; it must be an integer from 0 to 18446744073709551615." },
        { """{"model": 5, "task": "forecast"}""", "'model' is 5; it must be a string." },
        { """{"model": "m", "task": "forecast", "targets": ["OT", 1]}""", "'targets[1]' is 1; it must be a string." },
        { """{"model": "m", "task": "forecast", "inputs": "OT"}""", "'inputs' is \"OT\"; it must be an array of strings." },
        { """{"model": "m", "task": "forecast", "architecture": 64}""", "'architecture' is 64; it must be an object." },
        { """{"model": "m", "task": "forecast", "activate": 1}""", "'activate' is 1; it must be true or false." },
        { """{"model": "m", "task": "classify", "hyperparameters": {"class_weights": {"a": "x"}}}""", "'hyperparameters.class_weights.a' is \"x\"; it must be a number." },
        { """[{"model": "m"}]""", "The body is an array; it must be an object." },
        { "null", "The body is null; send the training job as a JSON object" },
        { "", "The body is empty; send the training job as a JSON object" },
        { """{"model": "m", """, "The body is not valid JSON (line 1, byte 16):" },
        { "{\n  \"model\": \"m\",\n  \"task\": forecast\n}", "The body is not valid JSON (line 3, " },
        // Inline data is checked whole when the job is submitted.
        { """{"model": "m", "task": "forecast", "data": {}}""", "Inline forecast data is" },
        { """{"model": "m", "task": "forecast", "data": {"series": [[1, 2, 1e39]]}, "window": 1, "horizon": 1}""", "data.series[0][2] is not a finite number" },
        { """{"model": "m", "task": "forecast", "data": {"series": [[[1, 2], [1]]]}, "window": 1, "horizon": 1}""", "data.series[0][1] has 1 value; the other steps have 2." },
        { """{"model": "m", "task": "forecast", "data": {"series": [[[1, 2], [3, 4], [5, 6]]], "columns": ["a"]}, "window": 1, "horizon": 1}""",
            "data.columns names 1 column; the series have 2 values per step." },
        { """{"model": "m", "task": "forecast", "data": {"series": [[1, 2, 3]], "columns": ["a", "b"]}, "window": 1, "horizon": 1}""",
            "data.columns names 2 columns; the series have 1 value per step." },
        { """{"model": "m", "task": "forecast", "data": {"series": [[1, 2, 3]], "foo": 1}, "window": 1, "horizon": 1}""", "data has the property 'foo'" },
        { """{"model": "m", "task": "forecast", "data": {"series": [[1, 2, 3]]}, "window": 4, "horizon": 1}""", "No training window fits" },
        { """{"model": "m", "task": "forecast", "data": {"series": [[1, 2, 3]]}, "targets": ["x0", "x0"]}""", "'targets' names column 'x0' more than once" },
        { """{"model": "m", "task": "forecast", "data": {"series": [[[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]]}, "window": 2, "horizon": 1, "targets": ["x0"], "architecture": {"channel_independent": true}}""",
            "the targets (x0) must be the inputs (x0, x1)" },
        { """{"model": "m", "task": "classify", "data": {"inputs": [[1], [2]], "labels": ["a", "a"]}}""", "a classifier needs at least two labels" },
        { """{"model": "m", "task": "classify", "data": {"inputs": [[1], [2]], "labels": ["a", "b"]}, "hyperparameters": {"class_weights": {"zzz": 2}}}""",
            "'hyperparameters.class_weights' names 'zzz', which is not a label" },
    };

    [Theory]
    [MemberData(nameof(InvalidRequests))]
    public async Task StartJob_Returns400_SayingWhatIsWrong(string body, string expected)
    {
        HttpResponseMessage response = await Client.PostJsonAsync("/v1/training-jobs", body);
        string detail = await response.AssertProblemAsync(400, "invalid_training_job");
        Assert.Contains(expected, detail);
        Assert.DoesNotContain("(Parameter '", detail);
        // No .NET type or member names: the serializer's own messages have them.
        Assert.DoesNotContain("GruService.", detail);
        Assert.DoesNotContain("System.", detail);
        Assert.DoesNotContain("Request'", detail);
        Assert.DoesNotContain((await (await Client.GetAsync("/v1/training-jobs")).JsonAsync())["jobs"]!.AsArray(), j => (string?)j!["model"] == "m");
    }

    [Theory]
    [InlineData("text/plain")]
    [InlineData("application/x-www-form-urlencoded")]
    public async Task StartJob_Returns415_ForABodyThatIsNotSentAsJson(string contentType)
    {
        var content = new StringContent(TrainingRequests.Forecast("typed", epochs: 1).ToJsonString(), Encoding.UTF8, contentType);
        string detail = await (await Client.PostAsync("/v1/training-jobs", content)).AssertProblemAsync(415, "unsupported_media_type");
        Assert.Contains($"The body is sent as '{contentType}", detail);
        Assert.Contains("Content-Type: application/json", detail);
    }

    [Fact]
    public async Task StartJob_ReadsABodyWithoutContentType_AsJson()
    {
        // As the inference endpoints do: a client that names no type is taken to send JSON.
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(TrainingRequests.Forecast("untyped", epochs: 1).ToJsonString()));
        Assert.Null(content.Headers.ContentType);
        Assert.Equal(HttpStatusCode.Accepted, (await Client.PostAsync("/v1/training-jobs", content)).StatusCode);
    }

    [Fact]
    public async Task StartJob_Returns400_ForTextThatIsNotUtf8()
    {
        byte[] body = [.. "{\"model\": \""u8, 0xFF, 0xFE, .. "\", \"task\": \"forecast\"}"u8];
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/json");
        string detail = await (await Client.PostAsync("/v1/training-jobs", content)).AssertProblemAsync(400, "invalid_training_job");
        Assert.Equal("'model' holds text that is not valid UTF-8; send the body in UTF-8.", detail);
    }
}

public class TrainingQueueTests
{
    [Fact]
    public async Task StartJob_Returns429WithRetryAfter_WhenTheQueueIsFull()
    {
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?> { ["Training:QueueCapacity"] = "1" });
        HttpClient client = await factory.ReadyClientAsync();
        string Long(string model) => TrainingRequests.Forecast(model, epochs: 500, TrainingRequests.Sine(3000)).ToJsonString();

        string running = (string)(await (await client.PostJsonAsync("/v1/training-jobs", Long("first"))).JsonAsync())["id"]!;
        await TrainingRequests.WaitAsync(client, running, j => (string?)j["status"] == "running");
        string waiting = (string)(await (await client.PostJsonAsync("/v1/training-jobs", Long("second"))).JsonAsync())["id"]!;

        HttpResponseMessage full = await client.PostJsonAsync("/v1/training-jobs", Long("third"));
        string detail = await full.AssertProblemAsync(429, "training_queue_full");
        Assert.Contains("Training:QueueCapacity", detail);
        Assert.Equal("https://tools.ietf.org/html/rfc6585#section-4", (string?)(await full.JsonAsync())["type"]);
        Assert.Equal(TimeSpan.FromSeconds(30), full.Headers.RetryAfter?.Delta);

        // The refused job left no record; the queued one can be cancelled before it starts.
        Assert.Equal(2, (await (await client.GetAsync("/v1/training-jobs")).JsonAsync())["jobs"]!.AsArray().Count);
        Assert.Equal(HttpStatusCode.Accepted, (await client.PostAsync($"/v1/training-jobs/{waiting}/cancel", null)).StatusCode);
        Assert.Equal("cancelled", (string?)(await (await client.GetAsync($"/v1/training-jobs/{waiting}")).JsonAsync())["status"]);
        await client.PostAsync($"/v1/training-jobs/{running}/cancel", null);
        await TrainingRequests.WaitAsync(client, running, TrainingRequests.Finished);
    }
}

public class TrainingLimitsTests
{
    [Fact]
    public async Task Job_TrainsToTheConfiguredModelLimits_NotTheDefaultOnes()
    {
        // 9 layers is above the default Models:Limits:MaxLayers (8): the submission is checked against the configured
        // limit, and so must the worker's own check be when it plans the job again at run time.
        using var factory = new GruServiceFactory(settings: new Dictionary<string, string?> { ["Models:Limits:MaxLayers"] = "9" });
        HttpClient client = await factory.ReadyClientAsync();
        JsonObject request = TrainingRequests.Forecast("deep", epochs: 1, TrainingRequests.Sine(120));
        request["architecture"] = new JsonObject { ["hidden_size"] = 2, ["num_layers"] = 9 };

        string id = await TrainingRequests.StartAsync(client, request);
        JsonObject job = await TrainingRequests.WaitAsync(client, id, TrainingRequests.Finished);

        Assert.True((string?)job["status"] == "succeeded", job.ToJsonString());
        Assert.Equal(9, (int)(await (await client.GetAsync("/v1/models/deep")).JsonAsync())["num_layers"]!);
    }
}
