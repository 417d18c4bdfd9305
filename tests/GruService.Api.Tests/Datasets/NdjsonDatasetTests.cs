using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using GruService.Api.Datasets;
using Microsoft.Extensions.DependencyInjection;

namespace GruService.Api.Tests.Datasets;

public class NdjsonDatasetTests : ServiceTestBase
{
    private IDatasetStore Store => Factory.Services.GetRequiredService<IDatasetStore>();

    private async Task<JsonObject> UploadAsync(string ndjson, string contentType = DatasetTestExtensions.Ndjson)
    {
        HttpResponseMessage response = await Client.PostDatasetAsync(ndjson, contentType);
        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        return JsonNode.Parse(body)!.AsObject();
    }

    [Fact]
    public async Task UploadNdjson_Returns201WithLabelCounts_ForSequencesOfSteps()
    {
        const string ndjson =
            "{\"sequence\": [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], \"label\": \"walking\"}\n"
            + "{\"label\": \"sitting\", \"sequence\": [[1, 2]]}\n"
            + "{\"sequence\": [[-1e-3, 2.5e3], [7, 8]], \"label\": \"walking\"}\n";
        HttpResponseMessage response = await Client.PostDatasetAsync(ndjson, DatasetTestExtensions.Ndjson);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        JsonObject record = await response.JsonAsync();
        Assert.Equal($"/v1/datasets/{(string)record["id"]!}", response.Headers.Location?.OriginalString);
        Assert.Equal("ndjson", (string?)record["format"]);
        Assert.Equal("sequences", (string?)record["kind"]);
        Assert.Equal(3, (long)record["rows"]!);
        Assert.Equal(["x0", "x1"], record["features"]!.AsArray().Select(f => (string)f!));
        // values (6 steps × 2 floats), the index (3 × two int32) and labels.json (["walking","sitting"]).
        Assert.Equal(6 * 2 * 4 + 3 * 8 + "[\"walking\",\"sitting\"]".Length, (long)record["size_bytes"]!);

        JsonObject summary = record["summary"]!.AsObject();
        Assert.Equal(["walking", "sitting"], summary["label_counts"]!.AsObject().Select(p => p.Key));
        Assert.Equal(2, (long)summary["label_counts"]!["walking"]!);
        Assert.Equal(1, (long)summary["label_counts"]!["sitting"]!);
        Assert.Equal(1, (int)summary["min_length"]!);
        Assert.Equal(3, (int)summary["max_length"]!);
        Assert.Null(summary["series"]);
    }

    [Fact]
    public async Task UploadNdjson_TakesWholeNumberLabels_AsClassIndices()
    {
        // As a PyTorch dataset labels its samples; 2.0 is how a DataFrame export writes an integer column.
        JsonObject record = await UploadAsync(
            "{\"sequence\": [1], \"label\": 10}\n{\"sequence\": [2], \"label\": 2.0}\n{\"sequence\": [3], \"label\": 2}\n{\"sequence\": [4], \"label\": \"2\"}\n",
            DatasetTestExtensions.Ndjson);
        JsonObject counts = record["summary"]!["label_counts"]!.AsObject();
        Assert.Equal(["10", "2"], counts.Select(p => p.Key));
        Assert.Equal(3, (long)counts["2"]!);
    }

    [Theory]
    [InlineData("application/x-ndjson")]
    [InlineData("application/ndjson")]
    [InlineData("application/jsonl")]
    [InlineData("application/x-ndjson; charset=utf-8")]
    public async Task UploadNdjson_AcceptsBareNumberSequences_AndSkipsBlankLines(string contentType)
    {
        JsonObject record = await UploadAsync("\n{\"sequence\": [1, 2, 3], \"label\": \"up\"}\n\n  \n{\"sequence\": [3, 2], \"label\": \"down\"}\n\n", contentType);
        Assert.Equal(2, (long)record["rows"]!);
        Assert.Equal(["x0"], record["features"]!.AsArray().Select(f => (string)f!));
        Assert.Equal(2, (int)record["summary"]!["min_length"]!);

        SequenceData data = await Store.LoadSequencesAsync((string)record["id"]!, CancellationToken.None);
        Assert.Equal(1, data.Width);
        Assert.Equal([1f, 2f, 3f], data.Sequences[0].Values);
        Assert.Equal("down", data.Sequences[1].Label);
    }

    [Theory]
    [InlineData("{\"sequence\": [1], \"label\": \"a\"}\n{\"sequence\": [1, 2], \"label\": \"a\"\n", "Line 2: the line is not valid JSON")]
    [InlineData("\n\n{\"sequence\": [1], \"label\": 'a'}\n", "Line 3: the line is not valid JSON (at byte 28)")]
    [InlineData("{\"sequence\": [1], \"label\": \"a\"} {\"sequence\": [2], \"label\": \"b\"}\n", "Line 1: the line is not valid JSON")]
    [InlineData("{\"sequence\": [NaN], \"label\": \"a\"}\n", "Line 1: the line is not valid JSON")]
    [InlineData("{\"sequence\": [[1, 2]]}\n", "Line 1: \"label\" is missing.")]
    [InlineData("{\"label\": \"a\"}\n", "Line 1: \"sequence\" is missing.")]
    [InlineData("{\"sequence\": [1], \"label\": \"\"}\n", "Line 1: \"label\" is empty.")]
    [InlineData("{\"sequence\": [1], \"label\": \"  \"}\n", "Line 1: \"label\" is empty.")]
    [InlineData("{\"sequence\": [1], \"label\": 1.5}\n", "Line 1: \"label\" is the number '1.5'; a number label must be a whole number, such as 3 (class indices), or write it as a string.")]
    [InlineData("{\"sequence\": [1], \"label\": 1e300}\n", "Line 1: \"label\" is the number '1e300'; a number label must be a whole number")]
    [InlineData("{\"sequence\": [1], \"label\": null}\n", "Line 1: \"label\" is null; every line needs a label, a non-empty string or a whole number (drop unlabelled sequences or give them one).")]
    [InlineData("{\"sequence\": [1], \"label\": [\"a\"]}\n", "Line 1: \"label\" is an array; it must be a string, such as \"walking\", or a whole number, such as 3.")]
    [InlineData("{\"sequence\": [[1]], \"label\": \"a\"}\n{\"sequence\": [[1, 2]], \"label\": \"a\"}\n", "Line 2: sequence[0] has more than 1 feature; earlier time steps have 1.")]
    [InlineData("{\"sequence\": [], \"label\": \"a\"}\n", "Line 1: \"sequence\" is empty")]
    [InlineData("{\"sequence\": [[]], \"label\": \"a\"}\n", "Line 1: sequence[0] is an empty time step.")]
    [InlineData("{\"sequence\": {\"a\": 1}, \"label\": \"a\"}\n", "Line 1: \"sequence\" is an object; it must be an array of time steps.")]
    [InlineData("{\"sequence\": [[1, 2]], \"label\": \"a\"}\n{\"sequence\": [[1, 2], [3, 4, 5]], \"label\": \"a\"}\n", "Line 2: sequence[1] has more than 2 features; earlier time steps have 2.")]
    [InlineData("{\"sequence\": [[1, 2], [3]], \"label\": \"a\"}\n", "Line 1: sequence[1] has 1 feature; earlier time steps have 2.")]
    [InlineData("{\"sequence\": [[1, 2]], \"label\": \"a\"}\n{\"sequence\": [5], \"label\": \"a\"}\n", "Line 2: sequence[0] has 1 feature; earlier time steps have 2.")]
    [InlineData("{\"sequence\": [[1, \"2\"]], \"label\": \"a\"}\n", "Line 1: sequence[0][1] is a string, not a number.")]
    [InlineData("{\"sequence\": [1, null], \"label\": \"a\"}\n", "Line 1: sequence[1] is null; a time step is an array of numbers")]
    [InlineData("{\"sequence\": [[1, true]], \"label\": \"a\"}\n", "Line 1: sequence[0][1] is a boolean, not a number.")]
    [InlineData("{\"sequence\": [[1e39]], \"label\": \"a\"}\n", "Line 1: sequence[0][0] = '1e39' is beyond the float32 range")]
    [InlineData("{\"sequence\": [1], \"label\": \"a\", \"weight\": 2}\n", "Line 1: unknown key 'weight'; a line holds only \"sequence\" and \"label\".")]
    [InlineData("{\"sequence\": [1], \"sequence\": [2], \"label\": \"a\"}\n", "Line 1: \"sequence\" appears twice.")]
    [InlineData("[[1, 2], [3, 4]]\n", "Line 1: the line is an array, not an object")]
    [InlineData("\n \n", "The body holds no sequences")]
    public async Task UploadNdjson_Returns400NamingTheLine_ForBadData(string ndjson, string expected)
    {
        string detail = await (await Client.PostDatasetAsync(ndjson, DatasetTestExtensions.Ndjson)).AssertProblemAsync(400, "invalid_dataset");
        Assert.Contains(expected, detail);
    }

    [Fact]
    public async Task LoadSequences_GivesBackExactlyTheUploadedNumbersAndLabels()
    {
        var random = new Random(11);
        var expected = new List<(float[] Values, string Label)>();
        var ndjson = new StringBuilder();
        for (int i = 0; i < 50; i++)
        {
            int length = random.Next(1, 20);
            float[] values = [.. Enumerable.Range(0, length * 3).Select(_ => (float)(random.NextDouble() * 200 - 100))];
            string label = $"class-{random.Next(3)} \"quoted\" ü";
            expected.Add((values, label));
            var steps = new JsonArray([.. values.Chunk(3).Select(step => (JsonNode)new JsonArray([.. step.Select(v => (JsonNode)JsonValue.Create(v))]))]);
            ndjson.Append(new JsonObject { ["sequence"] = steps, ["label"] = label }.ToJsonString()).Append('\n');
        }
        JsonObject record = await UploadAsync(ndjson.ToString());

        SequenceData data = await Store.LoadSequencesAsync((string)record["id"]!, CancellationToken.None);
        Assert.Equal(3, data.Width);
        Assert.Equal(expected.Select(e => e.Label).Distinct(), data.Labels);
        Assert.Equal(expected.Count, data.Sequences.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            Assert.Equal(expected[i].Values, data.Sequences[i].Values);
            Assert.Equal(expected[i].Values.Length / 3, data.Sequences[i].Length);
            Assert.Equal(expected[i].Label, data.Sequences[i].Label);
        }
        await Assert.ThrowsAsync<InvalidOperationException>(() => Store.LoadTimeSeriesAsync((string)record["id"]!, CancellationToken.None));
    }
}
