using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;
using GruService.Api.Datasets;
using GruService.Api.Models;
using GruService.Api.Storage.Postgres;
using GruService.Api.Tests.Datasets;
using GruService.Api.Tests.Training;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;

namespace GruService.Api.Tests.Postgres;

[Collection(PostgresCollection.Name)]
public sealed class PostgresStorageTests(PostgresFixture postgres)
{
    /// <summary>Two interleaved series of two features with a date column: 4000 rows, 32 KB of values, so 8 chunks of 4 KiB.</summary>
    private static string Csv()
    {
        var csv = new StringBuilder("date,series,load,temp\n");
        var start = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        for (int row = 0; row < 4000; row++)
            csv.Append(CultureInfo.InvariantCulture, $"{start.AddHours(row / 2):yyyy-MM-dd HH:mm},{(row % 2 == 0 ? "north" : "south")},{Math.Sin(row * 0.01) * 100:F5},{row * 0.37 % 41:F3}\n");
        return csv.ToString();
    }

    private static string Ndjson() => string.Concat(Enumerable.Range(0, 600).Select(i =>
        $"{{\"sequence\": [{string.Join(", ", Enumerable.Range(0, 3 + i % 5).Select(t => $"[{Math.Cos(i + t):F4}, {t * 0.5 + i:F2}]"))}], \"label\": \"{(i % 3 == 0 ? "walk" : i % 3 == 1 ? "run" : "sit")}\"}}\n"));

    [Fact]
    public async Task DatasetsLargerThanAChunk_RoundTripByteExact_AndLoadOnEveryReplica()
    {
        string database = await postgres.CreateDatabaseAsync();
        var settings = new Dictionary<string, string?> { ["Storage:Postgres:ChunkBytes"] = "4096" };
        using GruServiceFactory a = PostgresReplicas.Start(database, settings), b = PostgresReplicas.Start(database, settings);
        using var files = new GruServiceFactory();
        HttpClient clientA = await a.ReadyClientAsync(), clientB = await b.ReadyClientAsync(), clientFiles = await files.ReadyClientAsync();

        foreach ((string body, string contentType) in new[] { (Csv(), DatasetTestExtensions.Csv), (Ndjson(), DatasetTestExtensions.Ndjson) })
        {
            HttpResponseMessage stored = await clientA.PostDatasetAsync(body, contentType);
            Assert.Equal(HttpStatusCode.Created, stored.StatusCode);
            JsonObject record = await stored.JsonAsync();
            JsonObject fileRecord = await (await clientFiles.PostDatasetAsync(body, contentType)).JsonAsync();
            string id = (string)record["id"]!, fileId = (string)fileRecord["id"]!;

            // The chunks hold exactly the bytes the File provider writes, split at 4 KiB.
            string[] names = [.. Directory.EnumerateFiles(Path.Combine(files.StorageRoot, "datasets", fileId)).Select(Path.GetFileName).OfType<string>().Where(n => n != "dataset.json")];
            Assert.NotEmpty(names);
            foreach (string name in names)
            {
                (byte[] bytes, int chunks) = await ReadChunksAsync(database, id, name);
                byte[] expected = await File.ReadAllBytesAsync(Path.Combine(files.StorageRoot, "datasets", fileId, name));
                Assert.Equal(expected, bytes);
                Assert.Equal(Math.Max(1, (expected.Length + 4095) / 4096), chunks);
            }
            Assert.Equal((long)fileRecord["size_bytes"]!, (long)record["size_bytes"]!);
            Assert.Equal(fileRecord["summary"]!.ToJsonString(), (await (await clientB.GetAsync($"/v1/datasets/{id}")).JsonAsync())["summary"]!.ToJsonString());

            // B decodes what A stored to the same training data as the File provider.
            IDatasetStore storeB = b.Services.GetRequiredService<IDatasetStore>(), fileStore = files.Services.GetRequiredService<IDatasetStore>();
            if (contentType == DatasetTestExtensions.Csv)
            {
                TimeSeriesData fromB = await storeB.LoadTimeSeriesAsync(id, CancellationToken.None), fromFiles = await fileStore.LoadTimeSeriesAsync(fileId, CancellationToken.None);
                Assert.Equal(2, fromB.Series.Count);
                Assert.Equal(fromFiles.Series.Select(s => s.Values), fromB.Series.Select(s => s.Values));
            }
            else
            {
                SequenceData fromB = await storeB.LoadSequencesAsync(id, CancellationToken.None), fromFiles = await fileStore.LoadSequencesAsync(fileId, CancellationToken.None);
                Assert.Equal(600, fromB.Sequences.Count);
                Assert.Equal(fromFiles.Labels, fromB.Labels);
                Assert.Equal(fromFiles.Sequences.Select(s => (s.Label, s.Values)), fromB.Sequences.Select(s => (s.Label, s.Values)));
            }
        }
        Assert.Equal(2, (await (await clientB.GetAsync("/v1/datasets")).JsonAsync())["datasets"]!.AsArray().Count);
    }

    [Fact]
    public async Task RejectedOrDeletedDatasets_LeaveNoChunksBehind()
    {
        string database = await postgres.CreateDatabaseAsync();
        using GruServiceFactory a = PostgresReplicas.Start(database, new Dictionary<string, string?> { ["Storage:Postgres:ChunkBytes"] = "4096" });
        HttpClient client = await a.ReadyClientAsync();

        // Bad data after several chunks were sent: the upload's transaction rolls back.
        string bad = Csv() + "2021-01-01 00:00,north,oops,1\n";
        await (await client.PostDatasetAsync(bad, DatasetTestExtensions.Csv)).AssertProblemAsync(400, "invalid_dataset");
        Assert.Equal(0, await CountAsync(database, "dataset_chunks"));

        string id = (string)(await (await client.PostDatasetAsync(Csv(), DatasetTestExtensions.Csv)).JsonAsync())["id"]!;
        Assert.True(await CountAsync(database, "dataset_chunks") > 1);
        Assert.Equal(HttpStatusCode.NoContent, (await client.DeleteAsync($"/v1/datasets/{id}")).StatusCode);
        Assert.Equal(0, await CountAsync(database, "dataset_chunks"));
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync($"/v1/datasets/{id}")).StatusCode);
    }

    [Fact]
    public async Task ATrainingJobOnOneReplica_TrainsOnADatasetUploadedThroughAnother()
    {
        string database = await postgres.CreateDatabaseAsync();
        using GruServiceFactory a = PostgresReplicas.Start(database, new Dictionary<string, string?> { ["Storage:Postgres:ChunkBytes"] = "4096" });
        HttpClient clientA = await a.ReadyClientAsync();
        string id = (string)(await (await clientA.PostDatasetAsync(Csv(), DatasetTestExtensions.Csv)).JsonAsync())["id"]!;
        a.Dispose(); // B alone can run the job

        using GruServiceFactory b = PostgresReplicas.Start(database);
        HttpClient clientB = await b.ReadyClientAsync();
        var request = new JsonObject
        {
            ["model"] = "from-dataset", ["task"] = "forecast", ["dataset"] = id, ["window"] = 16, ["horizon"] = 2, ["targets"] = new JsonArray("load"),
            ["architecture"] = new JsonObject { ["hidden_size"] = 8 }, ["hyperparameters"] = new JsonObject { ["epochs"] = 1 },
        };
        HttpResponseMessage accepted = await clientB.PostJsonAsync("/v1/training-jobs", request.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, accepted.StatusCode);
        JsonObject job = await TrainingRequests.WaitAsync(clientB, (string)(await accepted.JsonAsync())["id"]!, TrainingRequests.Finished, seconds: 120);
        Assert.Equal("succeeded", (string?)job["status"]);
    }

    [Fact]
    public async Task ReplicasStartingTogether_MigrateTheSchemaOnce()
    {
        string connectionString = await postgres.CreateDatabaseAsync();
        var options = Options.Create(new StorageOptions { Provider = StorageProvider.Postgres, Postgres = new PostgresStorageOptions { ConnectionString = connectionString } });
        PostgresDatabase[] replicas = [.. Enumerable.Range(0, 6).Select(_ => new PostgresDatabase(options, NullLogger<PostgresDatabase>.Instance))];
        try
        {
            await Task.WhenAll(replicas.Select(r => Task.Run(() => r.Open().Dispose())));
            using var again = new PostgresDatabase(options, NullLogger<PostgresDatabase>.Instance);
            again.Open().Dispose();
        }
        finally
        {
            foreach (PostgresDatabase replica in replicas) replica.Dispose();
        }
        Assert.Equal(PostgresSchema.Migrations.Count, await CountAsync(connectionString, "schema_version"));
        Assert.Equal(0, await CountAsync(connectionString, "training_jobs"));
    }

    [Fact]
    public async Task DatabaseUnreachable_RequestsAnswer503ProblemBodies_AndTheServiceIsNotReady()
    {
        using var closed = new TcpListener(System.Net.IPAddress.Loopback, 0);
        closed.Start();
        int port = ((System.Net.IPEndPoint)closed.LocalEndpoint).Port;
        closed.Stop(); // nothing listens there now: connections are refused
        using GruServiceFactory replica = PostgresReplicas.Start($"Host=127.0.0.1;Port={port};Username=gru;Database=none;Timeout=2");
        HttpClient client = replica.CreateClient();

        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/readyz")).StatusCode);
        string detail = await (await client.GetAsync("/v1/training-jobs")).AssertProblemAsync(503, "storage_unavailable");
        Assert.Contains("database is unavailable", detail);
        await (await client.GetAsync("/v1/datasets")).AssertProblemAsync(503, "storage_unavailable");
        await (await client.PostDatasetAsync("a\n1\n2\n", DatasetTestExtensions.Csv)).AssertProblemAsync(503, "storage_unavailable");
        await (await client.PostJsonAsync("/v1/training-jobs", TrainingRequests.Forecast("m", epochs: 1).ToJsonString())).AssertProblemAsync(503, "storage_unavailable");
        await (await client.PutModelAsync("m", ReferenceModel.Load(8).File)).AssertProblemAsync(503, "registry_loading");
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/healthz")).StatusCode);
    }

    [Theory]
    [InlineData(null, null, "Storage:Postgres:ConnectionString is required")]
    [InlineData("Host=db", "30", "HeartbeatSeconds is 30; it must be above 0 and at most half of LeaseSeconds")]
    [InlineData("Host=db;Colour=blue", null, "not a valid Npgsql connection string")]
    public void PostgresProvider_WithUnusableSettings_RefusesToStart(string? connectionString, string? heartbeat, string expected)
    {
        var settings = new Dictionary<string, string?> { ["Storage:Provider"] = "Postgres" };
        if (connectionString is not null) settings["Storage:Postgres:ConnectionString"] = connectionString;
        if (heartbeat is not null) settings["Storage:Postgres:HeartbeatSeconds"] = heartbeat;
        using var factory = new GruServiceFactory(settings: settings);
        var failure = Assert.ThrowsAny<OptionsValidationException>(() => factory.CreateClient());
        Assert.Contains(expected, failure.Message);
    }

    private static async Task<(byte[] Bytes, int Chunks)> ReadChunksAsync(string connectionString, string id, string file)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT data FROM dataset_chunks WHERE dataset_id = $1 AND file = $2 ORDER BY chunk", connection)
        {
            Parameters = { new() { Value = id }, new() { Value = file } },
        };
        await using NpgsqlDataReader reader = await command.ExecuteReaderAsync();
        var bytes = new MemoryStream();
        int chunks = 0;
        while (await reader.ReadAsync())
        {
            bytes.Write(reader.GetFieldValue<byte[]>(0));
            chunks++;
        }
        return (bytes.ToArray(), chunks);
    }

    private static async Task<long> CountAsync(string connectionString, string table)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT count(*) FROM {table}", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }
}
