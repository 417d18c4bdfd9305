using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using GruService.Api.Datasets;
using GruService.Api.Tests.Datasets;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace GruService.Api.Tests.Postgres;

/// <summary>Memory is measured for the whole process, so this runs alone, on a PostgreSQL cluster of its own.</summary>
[Collection(MemoryMeasuringCollection.Name)]
public sealed class PostgresDatasetStreamingTests(PostgresFixture postgres, ITestOutputHelper output) : IClassFixture<PostgresFixture>
{
    [Fact]
    public async Task LargeUpload_StreamsIntoChunks_WithoutHoldingTheBodyInMemory()
    {
        const long bodyBytes = 50L << 20;
        using GruServiceFactory factory = PostgresReplicas.Start(await postgres.CreateDatabaseAsync());
        await factory.ReadyClientAsync();
        HttpClient client = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        long baseline = GC.GetTotalMemory(forceFullCollection: true);
        long peak = baseline;
        using var uploading = new CancellationTokenSource();
        // Live memory sampled through the upload: a body or dataset held whole would show up as a rise of tens of MB.
        Task sampler = Task.Run(async () =>
        {
            while (!uploading.IsCancellationRequested)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true));
                try { await Task.Delay(250, uploading.Token); } catch (OperationCanceledException) { }
            }
        });
        var content = new DatasetStreamingTests.GeneratedCsvContent(bodyBytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(DatasetTestExtensions.Csv);
        HttpResponseMessage response = await client.PostAsync("/v1/datasets", content);
        await uploading.CancelAsync();
        await sampler;

        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        JsonObject record = JsonNode.Parse(body)!.AsObject();
        Assert.Equal(content.Rows * 7 * sizeof(float), (long)record["size_bytes"]!);
        long rise = peak - baseline;
        output.WriteLine($"{content.BytesWritten >> 20} MiB, {content.Rows} rows; live memory rose by at most {rise >> 10} KiB");
        Assert.True(rise < 16L << 20, $"live memory rose by {rise >> 20} MiB during a {bodyBytes >> 20} MiB upload");

        TimeSeriesData data = await factory.Services.GetRequiredService<IDatasetStore>().LoadTimeSeriesAsync((string)record["id"]!, CancellationToken.None);
        TimeSeries series = Assert.Single(data.Series);
        Assert.Equal(content.Rows, series.Length);
        long last = content.Rows - 1;
        Assert.Equal((float)DatasetStreamingTests.GeneratedCsvContent.Value(last * 7 + 6), series.Values[^1]);
    }
}
