using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using GruService.Api.Datasets;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace GruService.Api.Tests.Datasets;

public class DatasetLifecycleTests : ServiceTestBase
{
    private async Task<JsonObject> UploadAsync(string body, string contentType = DatasetTestExtensions.Csv, string? name = null)
    {
        HttpResponseMessage response = await Client.PostDatasetAsync(body, contentType, name);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return await response.JsonAsync();
    }

    [Fact]
    public async Task ListDatasets_IsEmpty_OnAFreshStore()
    {
        JsonObject list = await (await Client.GetAsync("/v1/datasets")).JsonAsync();
        Assert.Empty(list["datasets"]!.AsArray());
    }

    [Fact]
    public async Task ListDatasets_ReturnsEveryRecord_OldestFirst()
    {
        JsonObject first = await UploadAsync("a\n1\n", name: "first");
        JsonObject second = await UploadAsync("{\"sequence\": [1], \"label\": \"a\"}\n", DatasetTestExtensions.Ndjson, name: "second");
        JsonObject third = await UploadAsync("b\n2\n", name: "third");

        HttpResponseMessage response = await Client.GetAsync("/v1/datasets");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        JsonArray datasets = (await response.JsonAsync())["datasets"]!.AsArray();
        Assert.Equal([(string?)first["id"], (string?)second["id"], (string?)third["id"]], datasets.Select(d => (string?)d!["id"]));
        Assert.Equal(["first", "second", "third"], datasets.Select(d => (string?)d!["name"]));
        Assert.True(JsonNode.DeepEquals(second, datasets[1]));
    }

    [Fact]
    public async Task GetDataset_ReturnsTheRecordTheUploadReturned()
    {
        JsonObject uploaded = await UploadAsync("date,x\nd1,1\nd2,2\n", name: "small");
        HttpResponseMessage response = await Client.GetAsync($"/v1/datasets/{(string)uploaded["id"]!}");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.True(JsonNode.DeepEquals(uploaded, await response.JsonAsync()));
    }

    [Theory]
    [InlineData("0123456789abcdef")]
    [InlineData("not-an-id")]
    [InlineData("0123456789ABCDEF")]
    public async Task GetDataset_Returns404Problem_ForUnknownId(string id)
    {
        string detail = await (await Client.GetAsync($"/v1/datasets/{Uri.EscapeDataString(id)}")).AssertProblemAsync(404, "unknown_dataset");
        Assert.Contains($"'{id}'", detail);
    }

    [Fact]
    public async Task DeleteDataset_RemovesItAndItsFiles_ThenAnswers404()
    {
        JsonObject uploaded = await UploadAsync("a\n1\n");
        string id = (string)uploaded["id"]!;
        Assert.True(Directory.Exists(Path.Combine(Factory.StorageRoot, "datasets", id)));

        Assert.Equal(HttpStatusCode.NoContent, (await Client.DeleteAsync($"/v1/datasets/{id}")).StatusCode);
        Assert.False(Directory.Exists(Path.Combine(Factory.StorageRoot, "datasets", id)));
        Assert.Empty(DatasetTestExtensions.DatasetEntries(Factory.StorageRoot));
        await (await Client.GetAsync($"/v1/datasets/{id}")).AssertProblemAsync(404, "unknown_dataset");
        await (await Client.DeleteAsync($"/v1/datasets/{id}")).AssertProblemAsync(404, "unknown_dataset");
        Assert.Empty((await (await Client.GetAsync("/v1/datasets")).JsonAsync())["datasets"]!.AsArray());
    }

    [Theory]
    [InlineData("application/json")]
    [InlineData("application/octet-stream")]
    [InlineData("application/x-www-form-urlencoded")]
    [InlineData("text/plain")]
    [InlineData("text/csv; charset=iso-8859-1")]
    public async Task UploadDataset_Returns415NamingTheAcceptedTypes_ForOtherContentTypes(string contentType)
    {
        string detail = await (await Client.PostDatasetAsync("a\n1\n", contentType)).AssertProblemAsync(415, "unsupported_media_type");
        Assert.Contains("text/csv", detail);
        Assert.Contains("application/x-ndjson", detail);
        Assert.Contains($"'{contentType}'", detail);
    }

    [Fact]
    public async Task UploadDataset_Returns415_WithoutAContentType()
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes("a\n1\n"));
        string detail = await (await Client.PostAsync("/v1/datasets", content)).AssertProblemAsync(415, "unsupported_media_type");
        Assert.Contains("Content-Type is missing", detail);
    }

    [Fact]
    public async Task UploadDataset_Returns415_ForAMultipartForm()
    {
        using var form = new MultipartFormDataContent { { new StringContent("a\n1\n"), "file", "data.csv" } };
        await (await Client.PostAsync("/v1/datasets", form)).AssertProblemAsync(415, "unsupported_media_type");
        Assert.Empty(DatasetTestExtensions.DatasetEntries(Factory.StorageRoot));
    }

    [Theory]
    [InlineData("Upper")]
    [InlineData("-leading-dash")]
    [InlineData("has space")]
    public async Task UploadDataset_Returns400_ForAnInvalidName(string name)
    {
        string detail = await (await Client.PostDatasetAsync("a\n1\n", DatasetTestExtensions.Csv, name)).AssertProblemAsync(400, "invalid_dataset_name");
        Assert.Contains($"'{name}'", detail);
    }

    [Fact]
    public async Task FailedUpload_LeavesNoFilesBehind()
    {
        // The bad value comes after thousands of good rows, so values were already being written when it is found.
        var csv = new StringBuilder("date,a,b\n");
        for (int i = 0; i < 20_000; i++) csv.Append("2024-01-01,1.5,2.5\n");
        csv.Append("2024-01-02,1.5,oops\n");
        string detail = await (await Client.PostDatasetAsync(csv.ToString(), DatasetTestExtensions.Csv)).AssertProblemAsync(400, "invalid_dataset");
        Assert.Contains("Row 20001 (line 20002), column 'b'", detail);

        Assert.True(Directory.Exists(Path.Combine(Factory.StorageRoot, "datasets")));
        Assert.Empty(DatasetTestExtensions.DatasetEntries(Factory.StorageRoot));
        Assert.Empty((await (await Client.GetAsync("/v1/datasets")).JsonAsync())["datasets"]!.AsArray());
    }

    [Fact]
    public async Task Dataset_SurvivesARestart_OnTheSameStorageRoot()
    {
        string root = Directory.CreateTempSubdirectory("gru-datasets-restart-").FullName;
        try
        {
            JsonObject uploaded;
            using (var first = new GruServiceFactory(root))
            {
                HttpResponseMessage response = await (await first.ReadyClientAsync()).PostDatasetAsync(
                    "series,date,x,y\nA,d1,1,2\nB,d1,3,4\nA,d2,5,6\n", DatasetTestExtensions.Csv, "kept");
                Assert.Equal(HttpStatusCode.Created, response.StatusCode);
                uploaded = await response.JsonAsync();
            }

            using var second = new GruServiceFactory(root);
            HttpClient client = await second.ReadyClientAsync();
            string id = (string)uploaded["id"]!;
            JsonObject reloaded = await (await client.GetAsync($"/v1/datasets/{id}")).JsonAsync();
            Assert.True(JsonNode.DeepEquals(uploaded, reloaded));
            TimeSeriesData data = await second.Services.GetRequiredService<IDatasetStore>().LoadTimeSeriesAsync(id, CancellationToken.None);
            Assert.Equal(["A", "B"], data.Series.Select(s => s.Name));
            Assert.Equal([1f, 2f, 5f, 6f], data.Series[0].Values);
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }

    [Fact]
    public async Task Startup_RemovesStagingLeftByACrash()
    {
        string root = Directory.CreateTempSubdirectory("gru-datasets-crash-").FullName;
        try
        {
            string leftover = Path.Combine(root, "tmp", "dataset-upload-0123456789abcdef");
            Directory.CreateDirectory(leftover);
            await File.WriteAllBytesAsync(Path.Combine(leftover, DatasetFiles.Values), new byte[64]);
            using var factory = new GruServiceFactory(root);
            HttpClient client = await factory.ReadyClientAsync();
            Assert.Empty((await (await client.GetAsync("/v1/datasets")).JsonAsync())["datasets"]!.AsArray());
            Assert.False(Directory.Exists(leftover));
        }
        finally
        {
            Directory.Delete(root, recursive: true);
        }
    }
}

public class DatasetLimitTests() : ServiceTestBase(Limits)
{
    private static readonly Dictionary<string, string?> Limits = new()
    {
        ["Datasets:MaxUploadBytes"] = "4096",
        ["Datasets:MaxLineBytes"] = "1024",
        ["Datasets:MaxFeatures"] = "3",
        ["Datasets:MaxColumns"] = "5",
        ["Datasets:MaxSeries"] = "2",
        ["Datasets:MaxSequenceLength"] = "4",
        ["Datasets:MaxLabels"] = "2",
    };

    private static string LargeCsv(int bytes)
    {
        var csv = new StringBuilder("a,b\n");
        while (csv.Length < bytes) csv.Append("1.25,2.5\n");
        return csv.ToString();
    }

    [Fact]
    public async Task Upload_Succeeds_JustUnderTheLimit()
    {
        string csv = LargeCsv(4000);
        Assert.True(csv.Length <= 4096);
        Assert.Equal(HttpStatusCode.Created, (await Client.PostDatasetAsync(csv, DatasetTestExtensions.Csv)).StatusCode);
    }

    [Fact]
    public async Task Upload_Returns413_WhenTheContentLengthIsOverTheLimit()
    {
        string detail = await (await Client.PostDatasetAsync(LargeCsv(5000), DatasetTestExtensions.Csv)).AssertProblemAsync(413, "body_too_large");
        Assert.Contains("4096 bytes (Datasets:MaxUploadBytes)", detail);
        Assert.Empty(DatasetTestExtensions.DatasetEntries(Factory.StorageRoot));
    }

    [Theory]
    [InlineData(5_000)]
    [InlineData(2_000_000)]
    public async Task Upload_Returns413_WhenAChunkedBodyGrowsOverTheLimit(int bytes)
    {
        // No Content-Length: the limit is enforced while reading, and what was written so far is removed.
        var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(LargeCsv(bytes))));
        content.Headers.ContentType = new MediaTypeHeaderValue(DatasetTestExtensions.Csv);
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/datasets") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        string detail = await (await Client.SendAsync(request)).AssertProblemAsync(413, "body_too_large");
        Assert.Contains("4096 bytes", detail);
        Assert.Empty(DatasetTestExtensions.DatasetEntries(Factory.StorageRoot));
    }

    [Fact]
    public async Task Upload_Returns400_ForALineOverTheLineLimit()
    {
        string detail = await (await Client.PostDatasetAsync("a\n1\n" + new string('7', 2000) + "\n", DatasetTestExtensions.Csv))
            .AssertProblemAsync(400, "invalid_dataset");
        Assert.Contains("Line 3 is longer than the limit of 1024 bytes (Datasets:MaxLineBytes)", detail);
    }

    [Fact]
    public async Task Upload_ReadsAheadNoMoreThanTheLineLimit_WhenTypingColumns()
    {
        // Rows of 303 bytes whose column b is empty: the rows held while b's type is unknown stop at 1024 bytes, the 4th row.
        var csv = new StringBuilder("a,b,note\n");
        for (int row = 0; row < 8; row++) csv.Append(row).Append(",,").Append('x', 300).Append('\n');
        string detail = await (await Client.PostDatasetAsync(csv.ToString(), DatasetTestExtensions.Csv)).AssertProblemAsync(400, "invalid_dataset");
        Assert.Contains("Column 'b' has no value in the first 4 data rows", detail);
    }

    [Fact]
    public async Task Upload_Returns400_ForAnUnclosedQuoteRunningPastTheLineLimit()
    {
        string detail = await (await Client.PostDatasetAsync("a,b\n1,\"2\n" + string.Concat(Enumerable.Repeat("3,4\n", 400)), DatasetTestExtensions.Csv))
            .AssertProblemAsync(400, "invalid_dataset");
        Assert.Contains("The record starting on line 2 is longer than the limit of 1024 bytes", detail);
    }

    [Theory]
    [InlineData("a,b,c,d\n1,2,3,4\n", "4 numeric feature columns, more than the limit of 3 (Datasets:MaxFeatures)")]
    [InlineData("a,b,c,d,e,f\n1,2,3,4,5,6\n", "The header (line 1) has more than 5 columns (Datasets:MaxColumns)")]
    [InlineData("series,a\nx,1\ny,2\nz,3\n", "Row 3 (line 4), column 'series': series 'z' is one more than the limit of 2 series (Datasets:MaxSeries)")]
    public async Task UploadCsv_Returns400_OverTheShapeLimits(string csv, string expected)
    {
        string detail = await (await Client.PostDatasetAsync(csv, DatasetTestExtensions.Csv)).AssertProblemAsync(400, "invalid_dataset");
        Assert.Contains(expected, detail);
    }

    [Theory]
    [InlineData("{\"sequence\": [1, 2, 3, 4, 5], \"label\": \"a\"}\n", "Line 1: \"sequence\" has more than 4 time steps (Datasets:MaxSequenceLength)")]
    [InlineData("{\"sequence\": [[1, 2, 3, 4]], \"label\": \"a\"}\n", "Line 1: sequence[0] has more than 3 features (Datasets:MaxFeatures)")]
    [InlineData("{\"sequence\": [1], \"label\": \"a\"}\n{\"sequence\": [1], \"label\": \"b\"}\n{\"sequence\": [1], \"label\": \"c\"}\n",
        "Line 3: label \"c\" is one more than the limit of 2 distinct labels (Datasets:MaxLabels)")]
    public async Task UploadNdjson_Returns400_OverTheShapeLimits(string ndjson, string expected)
    {
        string detail = await (await Client.PostDatasetAsync(ndjson, DatasetTestExtensions.Ndjson)).AssertProblemAsync(400, "invalid_dataset");
        Assert.Contains(expected, detail);
    }
}

public class DatasetStorageFailureTests
{
    /// <summary>A store whose storage refuses every upload with this exception.</summary>
    private sealed class FailingStore(Exception failure) : IDatasetStore
    {
        public IDatasetUpload BeginUpload() => throw failure;
        public Task<IReadOnlyList<DatasetRecord>> ListAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<DatasetRecord>>([]);
        public Task<DatasetRecord?> GetAsync(string id, CancellationToken cancellationToken) => Task.FromResult<DatasetRecord?>(null);
        public Task<bool> DeleteAsync(string id, CancellationToken cancellationToken) => throw failure;
        public Task<TimeSeriesData> LoadTimeSeriesAsync(string id, CancellationToken cancellationToken) => throw failure;
        public Task<SequenceData> LoadSequencesAsync(string id, CancellationToken cancellationToken) => throw failure;
    }

    private static async Task<HttpResponseMessage> UploadWithFailingStorageAsync(Exception failure)
    {
        using var factory = new GruServiceFactory
        {
            ConfigureTestServices = services => services.Replace(ServiceDescriptor.Singleton<IDatasetStore>(new FailingStore(failure))),
        };
        HttpClient client = await factory.ReadyClientAsync();
        HttpResponseMessage response = await client.PostDatasetAsync("a\n1\n", DatasetTestExtensions.Csv);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    [Fact]
    public async Task Upload_Returns507_WhenTheDiskIsFull()
    {
        // ENOSPC (28) on Unix; ERROR_DISK_FULL (0x70) on Windows.
        int hresult = OperatingSystem.IsWindows() ? unchecked((int)0x80070070) : 28;
        string detail = await (await UploadWithFailingStorageAsync(new IOException("No space left on device", hresult))).AssertProblemAsync(507, "storage_full");
        Assert.Contains("No space left on device", detail);
    }

    [Fact]
    public async Task Upload_Returns503_WhenStorageCannotBeWritten()
    {
        string detail = await (await UploadWithFailingStorageAsync(new UnauthorizedAccessException("Access to the path is denied."))).AssertProblemAsync(503, "storage_unavailable");
        Assert.Contains("Access to the path is denied.", detail);
    }
}
