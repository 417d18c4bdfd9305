using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GruService.Api.Tests.Datasets;
using GruService.Api.Training;
using Microsoft.Extensions.DependencyInjection;

namespace GruService.Api.Tests.Training;

public class TrainingJobListPagesTests : ServiceTestBase
{
    /// <summary>
    /// Stores finished jobs straight into the job store, a second apart (job-000 oldest), so a test has as many as it
    /// needs without training them; <paramref name="status"/> picks each one's status (succeeded unless given). Returns
    /// their ids newest first.
    /// </summary>
    private async Task<List<string>> SeedAsync(int count, Func<int, string>? status = null)
    {
        IJobStore store = Factory.Services.GetRequiredService<IJobStore>();
        var start = new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);
        for (int i = 0; i < count; i++)
        {
            var job = new TrainingJob($"job-{i:D3}", status?.Invoke(i) ?? JobStatus.Succeeded, "m", "forecast", "dataset-1", start.AddSeconds(i),
                start.AddSeconds(i), start.AddSeconds(i + 1), null, [], null, null, 0, JsonSerializer.SerializeToElement(new { model = "m", task = "forecast", dataset = "dataset-1" }));
            Assert.True(await store.TryEnqueueAsync(job, capacity: 1, CancellationToken.None));
        }
        return [.. Enumerable.Range(0, count).Reverse().Select(i => $"job-{i:D3}")];
    }

    private static string[] Ids(JsonObject page) => [.. page["jobs"]!.AsArray().Select(j => (string)j!["id"]!)];

    /// <summary>The URL of the Link header's rel="next", or null without one.</summary>
    private static string? NextLink(HttpResponseMessage response)
    {
        if (!response.Headers.TryGetValues("Link", out IEnumerable<string>? links)) return null;
        string link = Assert.Single(links);
        Assert.EndsWith(">; rel=\"next\"", link);
        return link[1..link.IndexOf('>', StringComparison.Ordinal)];
    }

    [Fact]
    public async Task ListJobs_WalksEveryJobNewestFirst_ByFollowingTheLinkHeader()
    {
        List<string> newestFirst = await SeedAsync(7);

        var pages = new List<string[]>();
        string? url = "/v1/training-jobs?limit=3";
        while (url is not null)
        {
            HttpResponseMessage response = await Client.GetAsync(url);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            JsonObject page = await response.JsonAsync();
            pages.Add(Ids(page));
            url = NextLink(response);
            // The body's next is the token the link sends as ?after=; the last page has neither.
            Assert.Equal(url is null ? null : $"/v1/training-jobs?limit=3&after={page["next"]}", url);
            Assert.True(pages.Count < 10, "the walk does not end");
        }

        Assert.Equal([3, 3, 1], pages.Select(p => p.Length));
        Assert.Equal(newestFirst, pages.SelectMany(p => p));
    }

    [Fact]
    public async Task ListJobs_PagesOnlyTheJobsInTheStatus_AndItsNextLinkKeepsTheStatus()
    {
        await SeedAsync(7, i => i % 2 == 0 ? JobStatus.Failed : JobStatus.Succeeded);

        HttpResponseMessage first = await Client.GetAsync("/v1/training-jobs?status=failed&limit=2");
        JsonObject page = await first.JsonAsync();
        Assert.Equal(["job-006", "job-004"], Ids(page));
        Assert.Equal($"/v1/training-jobs?status=failed&limit=2&after={page["next"]}", NextLink(first));
        HttpResponseMessage second = await Client.GetAsync(NextLink(first));

        JsonObject last = await second.JsonAsync();
        Assert.Equal(["job-002", "job-000"], Ids(last));
        Assert.False(last.ContainsKey("next"));
        Assert.Null(NextLink(second));
    }

    [Fact]
    public async Task ListJobs_Returns50JobsAPage_UnlessALimitIsGiven()
    {
        List<string> newestFirst = await SeedAsync(51);

        JsonObject first = await (await Client.GetAsync("/v1/training-jobs")).JsonAsync();
        Assert.Equal(newestFirst[..50], Ids(first));
        JsonObject second = await (await Client.GetAsync($"/v1/training-jobs?after={first["next"]}")).JsonAsync();
        Assert.Equal(["job-000"], Ids(second));
        Assert.False(second.ContainsKey("next"));

        JsonObject all = await (await Client.GetAsync("/v1/training-jobs?limit=500")).JsonAsync();
        Assert.Equal(newestFirst, Ids(all));
        Assert.False(all.ContainsKey("next"));
    }

    [Theory]
    [InlineData("0")]
    [InlineData("501")]
    [InlineData("-1")]
    [InlineData("1.5")]
    [InlineData("ten")]
    [InlineData("99999999999")]
    public async Task ListJobs_Returns400_ForALimitThatIsNotFrom1To500(string limit)
    {
        string detail = await (await Client.GetAsync($"/v1/training-jobs?limit={Uri.EscapeDataString(limit)}")).AssertProblemAsync(400, "invalid_limit");

        Assert.Equal($"limit '{limit}' is not a number of jobs from 1 to 500; leave it out for pages of 50, and follow 'next' for more.", detail);
    }

    public static TheoryData<string> NotTokens => new()
    {
        "job-001",                                                       // a job id is not a place in the list
        "%%%",
        Convert.ToBase64String(Encoding.UTF8.GetBytes("no colon here")).TrimEnd('='),
        Convert.ToBase64String(Encoding.UTF8.GetBytes("yesterday:job-001")).TrimEnd('='),
        Convert.ToBase64String(Encoding.UTF8.GetBytes("123:")).TrimEnd('='),
    };

    [Theory]
    [MemberData(nameof(NotTokens))]
    public async Task ListJobs_Returns400_ForAnAfterThatIsNotANextToken(string after)
    {
        string detail = await (await Client.GetAsync($"/v1/training-jobs?after={Uri.EscapeDataString(after)}")).AssertProblemAsync(400, "invalid_cursor");

        Assert.Contains("send back the 'next' of the page before as it came", detail);
    }
}

public class TrainingJobDeletionTests() : ServiceTestBase(new Dictionary<string, string?> { ["Training:ProgressIntervalSeconds"] = "0" })
{
    [Fact]
    public async Task DeleteJob_Returns204_AndForgetsTheJob_ButKeepsTheModelVersionItPublishedAndItsDataset()
    {
        HttpResponseMessage upload = await Client.PostDatasetAsync(StorageFaults.StorageFaultApiTests.SineCsv(400), DatasetTestExtensions.Csv, "sine");
        string dataset = (string)(await upload.JsonAsync())["id"]!;
        JsonObject request = TrainingRequests.ForecastOnDataset(dataset, "kept-after-delete", epochs: 1);
        string id = await TrainingRequests.StartAsync(Client, request);
        Assert.Equal("succeeded", (string?)(await TrainingRequests.WaitAsync(Client, id, TrainingRequests.Finished))["status"]);

        HttpResponseMessage deleted = await Client.DeleteAsync($"/v1/training-jobs/{id}");

        Assert.Equal(HttpStatusCode.NoContent, deleted.StatusCode);
        await (await Client.GetAsync($"/v1/training-jobs/{id}")).AssertProblemAsync(404, "unknown_training_job");
        Assert.Empty((await (await Client.GetAsync("/v1/training-jobs")).JsonAsync())["jobs"]!.AsArray());
        Assert.False(Directory.Exists(Path.Combine(Factory.StorageRoot, "jobs", id)));
        JsonObject card = await (await Client.GetAsync("/v1/models/kept-after-delete")).JsonAsync();
        Assert.Equal(1, (int)card["version"]!);
        Assert.Equal(HttpStatusCode.OK, (await Client.GetAsync($"/v1/datasets/{dataset}")).StatusCode);
        await (await Client.DeleteAsync($"/v1/training-jobs/{id}")).AssertProblemAsync(404, "unknown_training_job");
    }

    [Fact]
    public async Task DeleteJob_Returns409_WhileTheJobRuns_And204OnceItIsCancelled()
    {
        string id = await TrainingRequests.StartAsync(Client, TrainingRequests.Forecast("deleted-running", epochs: 500, TrainingRequests.Sine(3000)));
        await TrainingRequests.WaitAsync(Client, id, j => (string?)j["status"] == "running");

        string detail = await (await Client.DeleteAsync($"/v1/training-jobs/{id}")).AssertProblemAsync(409, "job_not_finished");

        Assert.Equal($"Training job '{id}' is running, so it was not deleted; cancel it first (POST /v1/training-jobs/{id}/cancel), then delete it once its status is cancelled.", detail);
        Assert.Equal("running", (string?)(await (await Client.GetAsync($"/v1/training-jobs/{id}")).JsonAsync())["status"]);
        Assert.Equal(HttpStatusCode.Accepted, (await Client.PostAsync($"/v1/training-jobs/{id}/cancel", null)).StatusCode);
        await TrainingRequests.WaitAsync(Client, id, TrainingRequests.Finished);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/training-jobs/{id}")).StatusCode);
    }

    [Fact]
    public async Task DeleteJob_Returns409_WhileTheJobIsQueued()
    {
        // One job runs at a time, so the second waits.
        string running = await TrainingRequests.StartAsync(Client, TrainingRequests.Forecast("first", epochs: 500, TrainingRequests.Sine(3000)));
        await TrainingRequests.WaitAsync(Client, running, j => (string?)j["status"] == "running");
        string queued = await TrainingRequests.StartAsync(Client, TrainingRequests.Forecast("second", epochs: 1));

        string detail = await (await Client.DeleteAsync($"/v1/training-jobs/{queued}")).AssertProblemAsync(409, "job_not_finished");

        Assert.StartsWith($"Training job '{queued}' is queued, so it was not deleted; cancel it first", detail);
        Assert.Equal(HttpStatusCode.Accepted, (await Client.PostAsync($"/v1/training-jobs/{queued}/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/training-jobs/{queued}")).StatusCode);
        await Client.PostAsync($"/v1/training-jobs/{running}/cancel", null);
        await TrainingRequests.WaitAsync(Client, running, TrainingRequests.Finished);
    }

    [Fact]
    public async Task DeleteJob_Returns404_ForAnUnknownJob()
    {
        string detail = await (await Client.DeleteAsync("/v1/training-jobs/job-nope")).AssertProblemAsync(404, "unknown_training_job");

        Assert.Equal("There is no training job 'job-nope'; GET /v1/training-jobs lists them.", detail);
    }
}
