using System.Net;
using System.Text.Json.Nodes;

namespace GruService.Api.Tests;

public class HealthApiTests
{
    [Fact]
    public async Task Liveness_Returns200()
    {
        using var factory = new GruServiceFactory();
        HttpResponseMessage response = await factory.CreateClient().GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("Healthy", (string?)(await response.JsonAsync())["status"]);
    }

    [Fact]
    public async Task Readiness_Returns200_WithRegistryAndStorageChecks()
    {
        using var factory = new GruServiceFactory();
        HttpClient client = await factory.ReadyClientAsync();
        JsonObject body = await (await client.GetAsync("/readyz")).JsonAsync();
        Assert.Equal("Healthy", (string?)body["status"]);
        Assert.Equal("Healthy", (string?)body["checks"]!["registry"]!["status"]);
        Assert.Equal("Healthy", (string?)body["checks"]!["storage"]!["status"]);
    }

    [Fact]
    public async Task Readiness_Returns503_WhenStorageCannotBeWritten()
    {
        using var factory = new GruServiceFactory();
        HttpClient client = await factory.ReadyClientAsync();
        // A file where the staging directory should be makes every write under the root fail.
        string staging = Path.Combine(factory.StorageRoot, "tmp");
        Directory.Delete(staging, recursive: true);
        File.WriteAllText(staging, "in the way");

        HttpResponseMessage response = await client.GetAsync("/readyz");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        JsonObject body = await response.JsonAsync();
        Assert.Equal("Unhealthy", (string?)body["checks"]!["storage"]!["status"]);
        Assert.Contains("not writable", (string?)body["checks"]!["storage"]!["description"]);
        Assert.Equal("Healthy", (string?)body["checks"]!["registry"]!["status"]);
    }

    [Fact]
    public async Task UploadModel_Returns503_WhenStorageCannotBeWritten_AndKeepsServing()
    {
        ReferenceModel model = ReferenceModel.Load(8);
        using var factory = new GruServiceFactory();
        HttpClient client = await factory.ReadyClientAsync();
        await client.PutModelAsync("demand", model.File);
        string request = HttpTestExtensions.Serialize(model.Inputs);
        string before = await (await client.PostJsonAsync("/v1/models/demand/forecast", request)).Content.ReadAsStringAsync();

        string staging = Path.Combine(factory.StorageRoot, "tmp");
        Directory.Delete(staging, recursive: true);
        File.WriteAllText(staging, "in the way");

        string detail = await (await client.PutModelAsync("demand", ReferenceModel.Load(18).File)).AssertProblemAsync(503, "storage_unavailable");
        Assert.Contains("nothing changed", detail);
        Assert.Equal(before, await (await client.PostJsonAsync("/v1/models/demand/forecast", request)).Content.ReadAsStringAsync());
    }
}
