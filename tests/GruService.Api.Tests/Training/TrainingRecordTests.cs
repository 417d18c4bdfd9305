using System.Net;
using System.Text.Json.Nodes;

namespace GruService.Api.Tests.Training;

/// <summary>What a job records of its request and settings: in its own record, in the job list and in the model's card.</summary>
public class TrainingRecordTests() : ServiceTestBase(new Dictionary<string, string?>
{
    // A small header limit, so data of a few tens of kilobytes is more than a model's header may hold.
    ["Models:Limits:MaxHeaderBytes"] = "16384",
})
{
    private static JsonObject SmallForecast(string model, int length)
    {
        JsonObject request = TrainingRequests.Forecast(model, epochs: 1, TrainingRequests.Sine(length));
        request["window"] = 8;
        request["horizon"] = 2;
        request["architecture"] = new JsonObject { ["hidden_size"] = 4 };
        return request;
    }

    [Fact]
    public async Task InlineDataLargerThanTheHeaderLimit_Trains_AndTheCardDescribesTheDataInsteadOfHoldingIt()
    {
        JsonObject request = SmallForecast("big-inline", 4000);
        Assert.True(request["data"]!.ToJsonString().Length > 16384);

        JsonObject job = await TrainingRequests.WaitAsync(Client, await TrainingRequests.StartAsync(Client, request), TrainingRequests.Finished);

        Assert.True((string?)job["status"] == "succeeded", job["error"]?.ToString());
        JsonObject card = await (await Client.GetAsync("/v1/models/big-inline")).JsonAsync();
        JsonObject data = card["metadata"]!["training"]!["request"]!["data"]!.AsObject();
        Assert.True((bool)data["inline"]!);
        Assert.Equal(1, (int)data["series"]!);
        Assert.Equal(4000, (int)data["steps"]!);
        Assert.Equal(4000, (long)data["values"]!);
        Assert.False(data.ContainsKey("columns"));
        Assert.Equal(8, (int)card["metadata"]!["training"]!["request"]!["window"]!);
    }

    [Fact]
    public async Task TheCard_RecordsTheSettingsTheJobTrainedWith_DefaultsIncluded()
    {
        // No window, horizon, stride, batch size, learning rate, optimizer or schedule: all defaults.
        var request = new JsonObject
        {
            ["model"] = "defaults", ["task"] = "forecast", ["data"] = new JsonObject { ["series"] = TrainingRequests.Sine(200) },
            ["architecture"] = new JsonObject { ["hidden_size"] = 4 }, ["hyperparameters"] = new JsonObject { ["epochs"] = 1 },
        };
        JsonObject job = await TrainingRequests.WaitAsync(Client, await TrainingRequests.StartAsync(Client, request), TrainingRequests.Finished);
        Assert.True((string?)job["status"] == "succeeded", job["error"]?.ToString());

        JsonObject card = await (await Client.GetAsync("/v1/models/defaults")).JsonAsync();
        JsonObject settings = card["metadata"]!["training"]!["settings"]!.AsObject();
        Assert.Equal("forecast", (string?)settings["task"]);
        Assert.Equal(48, (int)settings["window"]!);
        Assert.Equal(12, (int)settings["horizon"]!);
        Assert.Equal(1, (int)settings["stride"]!);
        Assert.Equal(["x0"], settings["inputs"]!.AsArray().Select(c => (string?)c));
        Assert.Equal(["x0"], settings["targets"]!.AsArray().Select(c => (string?)c));
        Assert.Equal(0.2, (double)settings["validation_split"]!);
        Assert.Equal(4, (int)settings["architecture"]!["hidden_size"]!);
        JsonObject hyperparameters = settings["hyperparameters"]!.AsObject();
        Assert.Equal(1, (int)hyperparameters["epochs"]!);
        Assert.Equal(64, (int)hyperparameters["batch_size"]!);
        Assert.Equal(0.001, (double)hyperparameters["learning_rate"]!);
        Assert.Equal("adamw", (string?)hyperparameters["optimizer"]);
        Assert.Equal("constant", (string?)hyperparameters["schedule"]);
        Assert.Equal("mse", (string?)hyperparameters["loss"]);
    }

    [Fact]
    public async Task JobList_DescribesInlineData_WhileTheJobsOwnRecordKeepsIt()
    {
        string id = await TrainingRequests.StartAsync(Client, SmallForecast("listed-small", 4000));
        await TrainingRequests.WaitAsync(Client, id, TrainingRequests.Finished);

        HttpResponseMessage list = await Client.GetAsync("/v1/training-jobs");
        Assert.Equal(HttpStatusCode.OK, list.StatusCode);
        string listed = await list.Content.ReadAsStringAsync();
        Assert.True(listed.Length < 8000, $"the list is {listed.Length} characters");
        JsonObject summary = (await list.JsonAsync())["jobs"]![0]!["request"]!["data"]!.AsObject();
        Assert.True((bool)summary["inline"]!);
        Assert.Equal(4000, (long)summary["values"]!);

        JsonObject job = await (await Client.GetAsync($"/v1/training-jobs/{id}")).JsonAsync();
        Assert.Equal(4000, job["request"]!["data"]!["series"]![0]!.AsArray().Count);
    }

    [Fact]
    public async Task ClassifyInlineData_IsDescribedBySequencesAndLabels()
    {
        var request = new JsonObject
        {
            ["model"] = "described", ["task"] = "classify",
            ["data"] = new JsonObject
            {
                ["inputs"] = new JsonArray(new JsonArray(1, 2), new JsonArray(3, 4, 5), new JsonArray(7), new JsonArray(8)),
                ["labels"] = new JsonArray("a", "b", "a", "b"),
            },
            ["validation_split"] = 0,
            ["architecture"] = new JsonObject { ["hidden_size"] = 2 },
            ["hyperparameters"] = new JsonObject { ["epochs"] = 1 },
        };
        string id = await TrainingRequests.StartAsync(Client, request);
        await TrainingRequests.WaitAsync(Client, id, TrainingRequests.Finished);

        JsonObject data = (await (await Client.GetAsync("/v1/training-jobs")).JsonAsync())["jobs"]![0]!["request"]!["data"]!.AsObject();
        Assert.Equal(4, (int)data["sequences"]!);
        Assert.Equal(7, (int)data["steps"]!);
        Assert.Equal(1, (int)data["features"]!);
        Assert.Equal(2, (int)data["labels"]!);
    }
}
