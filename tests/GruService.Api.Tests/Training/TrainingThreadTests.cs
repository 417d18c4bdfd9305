using System.Net;
using System.Text.Json.Nodes;
using GruService.Api.Tests.Datasets;
using GruService.Api.Tests.StorageFaults;
using GruService.Api.Training;
using Microsoft.Extensions.DependencyInjection;

namespace GruService.Api.Tests.Training;

/// <summary>
/// Training is CPU-bound for minutes at a time: it must run on a thread of its own, not on one of the thread pool's,
/// which serve requests. Its checkpoints are saved from the trainer's callbacks, so where they are saved is where it
/// trains.
/// </summary>
public sealed class TrainingThreadTests
{
    [Fact]
    public async Task TrainingJob_TrainsOnAThreadOfItsOwn_NotOnTheThreadPool_WhenItsDatasetIsLoadedAsynchronously()
    {
        // No fault is switched on: the switch's job store decorator is here only to record where checkpoints are saved.
        var faults = new StorageFaultSwitch();
        using var factory = new GruServiceFactory { ConfigureTestServices = faults.Install };
        HttpClient client = await factory.ReadyClientAsync();
        HttpResponseMessage upload = await client.PostDatasetAsync(StorageFaultApiTests.SineCsv(400), DatasetTestExtensions.Csv, "sine");
        Assert.Equal(HttpStatusCode.Created, upload.StatusCode);
        JsonObject request = TrainingRequests.ForecastOnDataset((string)(await upload.JsonAsync())["id"]!, "trained", epochs: 2);
        request["targets"] = new JsonArray("y");

        JsonObject job = await TrainingRequests.WaitAsync(client, await TrainingRequests.StartAsync(client, request), TrainingRequests.Finished, seconds: 120);

        Assert.Equal("succeeded", (string?)job["status"]);
        var store = (FaultyJobStore)factory.Services.GetRequiredService<IJobStore>();
        Assert.Equal(2, store.CheckpointsSavedOnThreadPool.Count);
        Assert.DoesNotContain(true, store.CheckpointsSavedOnThreadPool);
    }
}
