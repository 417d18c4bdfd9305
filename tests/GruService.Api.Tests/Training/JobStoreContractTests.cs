using System.Text.Json;
using GruService.Api.Models;
using GruService.Api.Training;
using GruService.Engine.Training;
using Microsoft.Extensions.Options;

namespace GruService.Api.Tests.Training;

/// <summary>
/// What every <see cref="IJobStore"/> does with the job list's pages and with deletions, run against each store: SQLite
/// here (<see cref="SqliteJobStoreContractTests"/>), PostgreSQL in Postgres/PostgresJobStoreContractTests. The jobs are
/// written straight into the store, with creation times the test chooses, so no job trains.
/// </summary>
public abstract class JobStoreContractTests
{
    /// <summary>An empty store of the kind under test.</summary>
    protected abstract Task<IJobStore> CreateStoreAsync();

    private static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    /// <summary>
    /// A queued job created at <paramref name="createdAt"/>. The times the tests use carry 0.4 µs past the second, finer
    /// than PostgreSQL keeps, so the pages are walked with times each store keeps its own way.
    /// </summary>
    private static TrainingJob Job(string id, DateTimeOffset createdAt) => new(id, JobStatus.Queued, "m", "forecast", "dataset-1", createdAt,
        null, null, null, [], null, null, 0, JsonSerializer.SerializeToElement(new { model = "m", task = "forecast", dataset = "dataset-1" }));

    /// <summary>Stores jobs job-00 (oldest) to job-NN, a second apart, and returns their ids newest first.</summary>
    private static async Task<List<string>> EnqueueAsync(IJobStore store, int count)
    {
        for (int i = 0; i < count; i++)
            Assert.True(await store.TryEnqueueAsync(Job($"job-{i:D2}", Start.AddSeconds(i).AddTicks(4)), capacity: 1000, CancellationToken.None));
        return [.. Enumerable.Range(0, count).Reverse().Select(i => $"job-{i:D2}")];
    }

    /// <summary>Every page of the list from the first, following Next; the ids of each page.</summary>
    private static async Task<List<string[]>> WalkAsync(IJobStore store, string? status, int limit)
    {
        var pages = new List<string[]>();
        JobCursor? after = null;
        do
        {
            JobPage page = await store.ListAsync(status, limit, after, CancellationToken.None);
            pages.Add([.. page.Jobs.Select(j => j.Id)]);
            after = page.Next;
            Assert.True(pages.Count < 100, "the walk does not end");
        }
        while (after is not null);
        return pages;
    }

    [Fact]
    public async Task ListJobs_WalksEveryJobOnceNewestFirst_InPagesOfTheLimit()
    {
        IJobStore store = await CreateStoreAsync();
        List<string> newestFirst = await EnqueueAsync(store, 7);

        List<string[]> pages = await WalkAsync(store, status: null, limit: 3);

        Assert.Equal([3, 3, 1], pages.Select(p => p.Length));
        Assert.Equal(newestFirst, pages.SelectMany(p => p));
    }

    [Fact]
    public async Task ListJobs_EndsWithoutNext_WhenTheLastPageIsFull()
    {
        IJobStore store = await CreateStoreAsync();
        List<string> newestFirst = await EnqueueAsync(store, 4);

        List<string[]> pages = await WalkAsync(store, status: null, limit: 2);

        // Two pages, not a third empty one: the store knows the second holds the oldest job.
        Assert.Equal([2, 2], pages.Select(p => p.Length));
        Assert.Equal(newestFirst, pages.SelectMany(p => p));
    }

    [Fact]
    public async Task ListJobs_OrdersJobsCreatedAtTheSameTimeById_AcrossPages()
    {
        IJobStore store = await CreateStoreAsync();
        foreach (string id in new[] { "job-b", "job-d", "job-a", "job-c" })
            Assert.True(await store.TryEnqueueAsync(Job(id, Start), capacity: 1000, CancellationToken.None));

        List<string[]> pages = await WalkAsync(store, status: null, limit: 1);

        Assert.Equal(["job-d", "job-c", "job-b", "job-a"], pages.SelectMany(p => p));
    }

    [Fact]
    public async Task ListJobs_PagesOnlyTheJobsInTheStatus()
    {
        IJobStore store = await CreateStoreAsync();
        List<string> newestFirst = await EnqueueAsync(store, 9);
        string[] cancelled = [.. newestFirst.Where((_, i) => i % 2 == 0)];
        foreach (string id in cancelled) Assert.Equal(JobStatus.Cancelled, (await store.RequestCancelAsync(id, CancellationToken.None))!.Status);

        List<string[]> pages = await WalkAsync(store, JobStatus.Cancelled, limit: 2);

        Assert.Equal([2, 2, 1], pages.Select(p => p.Length));
        Assert.Equal(cancelled, pages.SelectMany(p => p));
        Assert.Equal(newestFirst.Except(cancelled), (await WalkAsync(store, JobStatus.Queued, limit: 3)).SelectMany(p => p));
    }

    [Fact]
    public async Task ListJobs_ContinuesAfterACursor_WhoseJobWasDeletedMeanwhile()
    {
        IJobStore store = await CreateStoreAsync();
        List<string> newestFirst = await EnqueueAsync(store, 5);
        JobPage first = await store.ListAsync(null, 2, null, CancellationToken.None);
        string last = first.Jobs[^1].Id;
        await store.RequestCancelAsync(last, CancellationToken.None);
        Assert.NotNull(await store.DeleteAsync(last, CancellationToken.None));

        JobPage second = await store.ListAsync(null, 10, first.Next, CancellationToken.None);

        Assert.Equal(newestFirst[2..], second.Jobs.Select(j => j.Id));
        Assert.Null(second.Next);
    }

    [Fact]
    public async Task DeleteJob_RemovesAFinishedJobsRecordAndCheckpoint()
    {
        IJobStore store = await CreateStoreAsync();
        await EnqueueAsync(store, 2);
        JobClaim claim = (await store.TryClaimNextAsync("worker", TimeSpan.FromMinutes(1), CancellationToken.None))!;
        string id = claim.Job.Id;
        Assert.True(await store.SaveCheckpointAsync(id, "worker", Checkpoint(), CancellationToken.None));
        // The worker records the failure; its own removal of the checkpoint has not run (it could have failed).
        Assert.NotNull(await store.UpdateClaimedAsync(id, "worker", j => j.Ended(JobStatus.Failed) with { Error = "boom" }, CancellationToken.None));

        TrainingJob? deleted = await store.DeleteAsync(id, CancellationToken.None);

        Assert.Equal(JobStatus.Failed, deleted?.Status);
        Assert.Null(await store.GetAsync(id, CancellationToken.None));
        Assert.Null(await store.LoadCheckpointAsync(id, CancellationToken.None));
        Assert.DoesNotContain(id, (await store.ListAsync(null, 10, null, CancellationToken.None)).Jobs.Select(j => j.Id));
        Assert.Equal(0, store.CountByStatus()[JobStatus.Failed]);
        Assert.Null(await store.DeleteAsync(id, CancellationToken.None));
    }

    [Fact]
    public async Task DeleteJob_LeavesAQueuedOrRunningJob_AndItsCheckpoint()
    {
        IJobStore store = await CreateStoreAsync();
        await EnqueueAsync(store, 2);
        JobClaim claim = (await store.TryClaimNextAsync("worker", TimeSpan.FromMinutes(1), CancellationToken.None))!;
        string running = claim.Job.Id, queued = running == "job-00" ? "job-01" : "job-00";
        Assert.True(await store.SaveCheckpointAsync(running, "worker", Checkpoint(), CancellationToken.None));

        Assert.Equal(JobStatus.Running, (await store.DeleteAsync(running, CancellationToken.None))?.Status);
        Assert.Equal(JobStatus.Queued, (await store.DeleteAsync(queued, CancellationToken.None))?.Status);

        Assert.Equal(JobStatus.Running, (await store.GetAsync(running, CancellationToken.None))?.Status);
        Assert.Equal(JobStatus.Queued, (await store.GetAsync(queued, CancellationToken.None))?.Status);
        Assert.Equal(2, (await store.LoadCheckpointAsync(running, CancellationToken.None))?.CompletedEpochs);
        // The worker still holds its job.
        Assert.Equal(LeaseState.Held, await store.RenewLeaseAsync(running, "worker", TimeSpan.FromMinutes(1), CancellationToken.None));
    }

    [Fact]
    public async Task DeleteJob_ReturnsNull_ForAnUnknownJob()
    {
        IJobStore store = await CreateStoreAsync();
        Assert.Null(await store.DeleteAsync("job-none", CancellationToken.None));
    }

    private static TrainingCheckpoint Checkpoint() =>
        new(2, [1f, 2f], [0f, 0f], [0f, 0f], 10, [1f, 2f], 0.5, 1, 0, [], 1.5);
}

public sealed class SqliteJobStoreContractTests : JobStoreContractTests, IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("gru-jobstore-").FullName;

    protected override Task<IJobStore> CreateStoreAsync() =>
        Task.FromResult<IJobStore>(new SqliteJobStore(Options.Create(new StorageOptions { Root = _root })));

    [Fact]
    public async Task DeleteJob_RemovesTheCheckpointDirectory()
    {
        IJobStore store = await CreateStoreAsync();
        var job = new TrainingJob("job-x", JobStatus.Queued, "m", "forecast", null, DateTimeOffset.UtcNow, null, null, null, [], null, null, 0,
            JsonSerializer.SerializeToElement(new { model = "m" }));
        Assert.True(await store.TryEnqueueAsync(job, capacity: 10, CancellationToken.None));
        await store.TryClaimNextAsync("worker", TimeSpan.FromMinutes(1), CancellationToken.None);
        Assert.True(await store.SaveCheckpointAsync("job-x", "worker", new(1, [1f], [0f], [0f], 1, [1f], 0.5, 1, 0, [], 1), CancellationToken.None));
        await store.UpdateClaimedAsync("job-x", "worker", j => j.Ended(JobStatus.Succeeded), CancellationToken.None);
        Assert.True(Directory.Exists(Path.Combine(_root, "jobs", "job-x")));

        Assert.NotNull(await store.DeleteAsync("job-x", CancellationToken.None));

        Assert.False(Directory.Exists(Path.Combine(_root, "jobs", "job-x")));
    }

    public void Dispose()
    {
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_root, recursive: true);
    }
}
