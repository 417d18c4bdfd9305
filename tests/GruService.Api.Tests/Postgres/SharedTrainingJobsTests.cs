using System.Net;
using System.Text.Json.Nodes;
using GruService.Api.Tests.Training;

namespace GruService.Api.Tests.Postgres;

[Collection(PostgresCollection.Name)]
public sealed class SharedTrainingJobsTests(PostgresFixture postgres)
{
    private static async Task<string> StartJobAsync(HttpClient client, JsonObject request)
    {
        HttpResponseMessage response = await client.PostJsonAsync("/v1/training-jobs", request.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (string)(await response.JsonAsync())["id"]!;
    }

    [Fact]
    public async Task JobsSubmittedOnOneReplica_EachRunOnExactlyOne_AndReadTheSameOnBoth()
    {
        string database = await postgres.CreateDatabaseAsync();
        using GruServiceFactory a = PostgresReplicas.Start(database), b = PostgresReplicas.Start(database);
        HttpClient clientA = await a.ReadyClientAsync(), clientB = await b.ReadyClientAsync();

        string[] ids = [.. await Task.WhenAll(Enumerable.Range(0, 4).Select(i => StartJobAsync(clientA, TrainingRequests.Forecast($"job-{i}", epochs: 2))))];
        foreach (string id in ids)
        {
            JsonObject done = await TrainingRequests.WaitAsync(clientB, id, TrainingRequests.Finished, seconds: 120);
            Assert.Equal("succeeded", (string?)done["status"]);
            Assert.Equal(0, (int)done["resumed"]!);
            Assert.Equal(2, done["history"]!.AsArray().Count);
            // Each replica reads the same record.
            Assert.Equal(done.ToJsonString(), (await (await clientA.GetAsync($"/v1/training-jobs/{id}")).JsonAsync()).ToJsonString());
        }
        // A job run twice would have published two versions of its model.
        for (int i = 0; i < ids.Length; i++)
        {
            JsonObject versions = await (await clientB.GetAsync($"/v1/models/job-{i}/versions")).JsonAsync();
            Assert.Single(versions["versions"]!.AsArray());
        }
        string listA = (await (await clientA.GetAsync("/v1/training-jobs")).JsonAsync()).ToJsonString();
        Assert.Equal(listA, (await (await clientB.GetAsync("/v1/training-jobs")).JsonAsync()).ToJsonString());
    }

    [Fact]
    public async Task ReplicaCutOffMidJob_TheOtherTakesItOverAfterTheLease_AndResumesFromItsCheckpoint()
    {
        await postgres.CreateRoleAsync("replica_a");
        string database = await postgres.CreateDatabaseAsync();
        using GruServiceFactory a = PostgresReplicas.Start(database.Replace("Username=gru", "Username=replica_a"));
        HttpClient clientA = await a.ReadyClientAsync();
        const int epochs = 12;
        string id = await StartJobAsync(clientA, TrainingRequests.Forecast("taken-over", epochs, TrainingRequests.Sine(4000)));
        JsonObject before = await TrainingRequests.WaitAsync(clientA, id, j => j["history"]!.AsArray().Count >= 2, seconds: 120);
        double[] lossesBefore = [.. before["history"]!.AsArray().Select(e => (double)e!["train_loss"]!)];

        // B starts only now, so A ran the job; then A loses the database, as a dead replica would.
        using GruServiceFactory b = PostgresReplicas.Start(database);
        HttpClient clientB = await b.ReadyClientAsync();
        await postgres.CutOffAsync("replica_a");

        JsonObject after = await TrainingRequests.WaitAsync(clientB, id, TrainingRequests.Finished, seconds: 180);
        Assert.Equal("succeeded", (string?)after["status"]);
        Assert.Equal(1, (int)after["resumed"]!);
        Assert.True((int)after["resumed_from_epoch"]! >= lossesBefore.Length, $"resumed from epoch {after["resumed_from_epoch"]}, after {lossesBefore.Length} had finished");
        JsonArray history = after["history"]!.AsArray();
        Assert.Equal(epochs, history.Count);
        Assert.Equal(lossesBefore, history.Take(lossesBefore.Length).Select(e => (double)e!["train_loss"]!));
        // Only the replica that finished the job published it.
        JsonObject versions = await (await clientB.GetAsync("/v1/models/taken-over/versions")).JsonAsync();
        Assert.Single(versions["versions"]!.AsArray());
    }

    [Fact]
    public async Task RunningJob_CancelledThroughTheOtherReplica_StopsAndPublishesNothing()
    {
        string database = await postgres.CreateDatabaseAsync();
        using GruServiceFactory a = PostgresReplicas.Start(database, new Dictionary<string, string?> { ["Storage:Postgres:HeartbeatSeconds"] = "1" });
        HttpClient clientA = await a.ReadyClientAsync();
        string id = await StartJobAsync(clientA, TrainingRequests.Forecast("cancelled", epochs: 500, TrainingRequests.Sine(3000)));
        await TrainingRequests.WaitAsync(clientA, id, j => (string?)j["status"] == "running");

        using GruServiceFactory b = PostgresReplicas.Start(database);
        HttpClient clientB = await b.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.Accepted, (await clientB.PostAsync($"/v1/training-jobs/{id}/cancel", null)).StatusCode);
        JsonObject job = await TrainingRequests.WaitAsync(clientB, id, TrainingRequests.Finished, seconds: 10);

        Assert.Equal("cancelled", (string?)job["status"]);
        Assert.Equal(HttpStatusCode.NotFound, (await clientA.GetAsync("/v1/models/cancelled")).StatusCode);
        Assert.Equal(0, (long)(await (await clientB.GetAsync("/v1/training-jobs?status=running")).JsonAsync())["jobs"]!.AsArray().Count);
    }

    [Fact]
    public async Task QueueCapacity_CountsTheJobsQueuedThroughEveryReplica()
    {
        string database = await postgres.CreateDatabaseAsync();
        var settings = new Dictionary<string, string?> { ["Training:QueueCapacity"] = "2" };
        using GruServiceFactory a = PostgresReplicas.Start(database, settings), b = PostgresReplicas.Start(database, settings);
        HttpClient clientA = await a.ReadyClientAsync(), clientB = await b.ReadyClientAsync();
        JsonObject Long(string model) => TrainingRequests.Forecast(model, epochs: 500, TrainingRequests.Sine(3000));

        // Each replica runs one job; the next two wait; a fifth, through either replica, finds the queue full.
        string[] running = [await StartJobAsync(clientA, Long("r1")), await StartJobAsync(clientB, Long("r2"))];
        foreach (string id in running) await TrainingRequests.WaitAsync(clientA, id, j => (string?)j["status"] == "running");
        string[] waiting = [await StartJobAsync(clientA, Long("w1")), await StartJobAsync(clientB, Long("w2"))];
        foreach (HttpClient client in new[] { clientA, clientB })
            await (await client.PostJsonAsync("/v1/training-jobs", Long("refused").ToJsonString())).AssertProblemAsync(429, "training_queue_full");
        Assert.Equal(4, (await (await clientA.GetAsync("/v1/training-jobs")).JsonAsync())["jobs"]!.AsArray().Count);

        foreach (string id in waiting.Concat(running)) await clientB.PostAsync($"/v1/training-jobs/{id}/cancel", null);
        foreach (string id in running) await TrainingRequests.WaitAsync(clientA, id, TrainingRequests.Finished, seconds: 20);
    }

    [Fact]
    public async Task FinishedJob_DeletedThroughOneReplica_IsGoneOnBoth_AndItsModelVersionStays()
    {
        string database = await postgres.CreateDatabaseAsync();
        using GruServiceFactory a = PostgresReplicas.Start(database), b = PostgresReplicas.Start(database);
        HttpClient clientA = await a.ReadyClientAsync(), clientB = await b.ReadyClientAsync();
        string first = await StartJobAsync(clientA, TrainingRequests.Forecast("deleted-1", epochs: 1));
        await TrainingRequests.WaitAsync(clientA, first, TrainingRequests.Finished);
        string second = await StartJobAsync(clientA, TrainingRequests.Forecast("deleted-2", epochs: 1));
        Assert.Equal("succeeded", (string?)(await TrainingRequests.WaitAsync(clientA, second, TrainingRequests.Finished))["status"]);

        // Both replicas page the same list, newest first.
        JsonObject page = await (await clientB.GetAsync("/v1/training-jobs?limit=1")).JsonAsync();
        Assert.Equal(second, (string?)page["jobs"]![0]!["id"]);
        JsonObject rest = await (await clientA.GetAsync($"/v1/training-jobs?limit=1&after={page["next"]}")).JsonAsync();
        Assert.Equal(first, (string?)rest["jobs"]![0]!["id"]);
        Assert.False(rest.ContainsKey("next"));

        Assert.Equal(HttpStatusCode.NoContent, (await clientB.DeleteAsync($"/v1/training-jobs/{first}")).StatusCode);

        await (await clientA.GetAsync($"/v1/training-jobs/{first}")).AssertProblemAsync(404, "unknown_training_job");
        await (await clientA.DeleteAsync($"/v1/training-jobs/{first}")).AssertProblemAsync(404, "unknown_training_job");
        Assert.Equal([second], (await (await clientA.GetAsync("/v1/training-jobs")).JsonAsync())["jobs"]!.AsArray().Select(j => (string?)j!["id"]));
        Assert.Equal(1, (int)(await (await clientA.GetAsync("/v1/models/deleted-1")).JsonAsync())["version"]!);
    }
}
