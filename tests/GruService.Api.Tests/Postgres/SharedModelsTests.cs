using System.Net;
using System.Security.Cryptography;

namespace GruService.Api.Tests.Postgres;

[Collection(PostgresCollection.Name)]
public sealed class SharedModelsTests(PostgresFixture postgres) : IAsyncLifetime
{
    private static readonly ReferenceModel First = ReferenceModel.Load(8), Second = ReferenceModel.Load(18), Classifier = ReferenceModel.Load(5);
    private GruServiceFactory _a = null!, _b = null!;
    private HttpClient _clientA = null!, _clientB = null!;

    public async Task InitializeAsync()
    {
        string database = await postgres.CreateDatabaseAsync();
        (_a, _b) = (PostgresReplicas.Start(database), PostgresReplicas.Start(database));
        // Started together, the replicas race to create the schema; the advisory lock lets one do it.
        Task<HttpClient>[] ready = [_a.ReadyClientAsync(), _b.ReadyClientAsync()];
        (_clientA, _clientB) = (await ready[0], await ready[1]);
    }

    public Task DisposeAsync()
    {
        _a.Dispose();
        _b.Dispose();
        return Task.CompletedTask;
    }

    private static string Sha(ReferenceModel model) => Convert.ToHexStringLower(SHA256.HashData(model.File));

    [Fact]
    public async Task UploadAndActivateOnOneReplica_TheOtherServesTheNewVersionWithinTwoSeconds()
    {
        Assert.Equal(HttpStatusCode.Created, (await _clientA.PutModelAsync("shared", First.File)).StatusCode);
        var (card, elapsed) = await PostgresReplicas.WaitForAsync(_clientB, "/v1/models/shared", (r, body) => r.IsSuccessStatusCode, seconds: 2);
        Assert.Equal(1, (int)card["version"]!);
        Assert.Equal(Sha(First), (string?)card["sha256"]);
        // B answers with the uploaded weights, exactly as A does.
        string request = HttpTestExtensions.Serialize(First.Inputs);
        Assert.Equal(await (await _clientA.PostJsonAsync("/v1/models/shared/forecast", request)).Content.ReadAsStringAsync(),
            await (await _clientB.PostJsonAsync("/v1/models/shared/forecast", request)).Content.ReadAsStringAsync());

        Assert.Equal(HttpStatusCode.Created, (await _clientA.PutModelAsync("shared", Second.File)).StatusCode);
        (card, elapsed) = await PostgresReplicas.WaitForAsync(_clientB, "/v1/models/shared", (r, body) => (int?)body?["version"] == 2, seconds: 2);
        Assert.Equal(Sha(Second), (string?)card["sha256"]);

        // A rollback on A reaches B too.
        Assert.Equal(HttpStatusCode.OK, (await _clientA.PostAsync("/v1/models/shared/versions/1/activate", null)).StatusCode);
        (card, elapsed) = await PostgresReplicas.WaitForAsync(_clientB, "/v1/models/shared", (r, body) => (int?)body?["version"] == 1, seconds: 2);
        Assert.True(elapsed < TimeSpan.FromSeconds(2), $"B served the activated version after {elapsed}");
        Assert.Equal(Sha(First), (string?)card["sha256"]);
        var versions = await (await _clientB.GetAsync("/v1/models/shared/versions")).JsonAsync();
        Assert.Equal(1, (int)versions["active_version"]!);
        Assert.Equal(2, versions["versions"]!.AsArray().Count);
    }

    [Fact]
    public async Task ActivationOnTheOtherReplica_IsServedByBoth_AndADeletionStopsBoth()
    {
        await _clientA.PutModelAsync("both", First.File);
        await _clientA.PutModelAsync("both", Second.File);
        Assert.Equal(HttpStatusCode.OK, (await _clientB.PostAsync("/v1/models/both/versions/1/activate", null)).StatusCode);
        await PostgresReplicas.WaitForAsync(_clientA, "/v1/models/both", (r, body) => (int?)body?["version"] == 1, seconds: 2);

        Assert.Equal(HttpStatusCode.NoContent, (await _clientB.DeleteAsync("/v1/models/both")).StatusCode);
        await PostgresReplicas.WaitForAsync(_clientA, "/v1/models/both", (r, body) => r.StatusCode == HttpStatusCode.NotFound, seconds: 2);
        // Uploaded again, the model starts over at version 1, and A serves the new file rather than its old version 1.
        await _clientB.PutModelAsync("both", Second.File);
        var (card, _) = await PostgresReplicas.WaitForAsync(_clientA, "/v1/models/both", (r, body) => r.IsSuccessStatusCode, seconds: 2);
        Assert.Equal(1, (int)card["version"]!);
        Assert.Equal(Sha(Second), (string?)card["sha256"]);
    }

    [Fact]
    public async Task ConcurrentUploadsThroughBothReplicas_GetDistinctVersions()
    {
        HttpResponseMessage[] responses = await Task.WhenAll(Enumerable.Range(0, 6).Select(i =>
            (i % 2 == 0 ? _clientA : _clientB).PutModelAsync("raced", TestModelFiles.Described(i % 3 == 0 ? First : Second, $"upload {i}"))));
        Assert.All(responses, r => Assert.Equal(HttpStatusCode.Created, r.StatusCode));
        int[] versions = [.. await Task.WhenAll(responses.Select(async r => (int)(await r.JsonAsync())["version"]!))];
        Assert.Equal([1, 2, 3, 4, 5, 6], versions.Order());
    }

    [Fact]
    public async Task UploadsOfBothTasksRacingThroughBothReplicas_OneIsStoredAndTheOther409s_AndBothServeTheStoredTask()
    {
        for (int round = 0; round < 10; round++)
        {
            string name = $"contested-{round}";
            // Neither replica serves the name yet, so neither's own check can see the other's upload.
            (ReferenceModel viaA, ReferenceModel viaB) = round % 2 == 0 ? (First, Classifier) : (Classifier, First);
            HttpResponseMessage[] responses = await Task.WhenAll(_clientA.PutModelAsync(name, viaA.File), _clientB.PutModelAsync(name, viaB.File));

            Assert.All(responses, r => Assert.Contains(r.StatusCode, (HttpStatusCode[])[HttpStatusCode.Created, HttpStatusCode.Conflict]));
            Assert.Single(responses, r => r.StatusCode == HttpStatusCode.Created);
            string detail = await responses.Single(r => r.StatusCode == HttpStatusCode.Conflict).AssertProblemAsync(409, "task_mismatch");
            Assert.Contains("cannot be a version of it", detail);
            string stored = (string)(await responses.Single(r => r.StatusCode == HttpStatusCode.Created).JsonAsync())["sha256"]!;
            var versions = (await (await _clientA.GetAsync($"/v1/models/{name}/versions")).JsonAsync())["versions"]!.AsArray();
            Assert.Equal([stored], versions.Select(v => (string?)v!["sha256"]));
            foreach (HttpClient client in (HttpClient[])[_clientA, _clientB])
                await PostgresReplicas.WaitForAsync(client, $"/v1/models/{name}", (r, body) => (string?)body?["sha256"] == stored, seconds: 2);
        }
    }
}
