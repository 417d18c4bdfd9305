using System.Net.Http.Headers;
using System.Text;

namespace GruService.Api.Tests.Datasets;

public static class DatasetTestExtensions
{
    public const string Csv = "text/csv";
    public const string Ndjson = "application/x-ndjson";

    /// <summary>POSTs the body's UTF-8 bytes exactly (no BOM added) with this Content-Type.</summary>
    public static Task<HttpResponseMessage> PostDatasetAsync(this HttpClient client, string body, string contentType, string? name = null) =>
        client.PostDatasetAsync(Encoding.UTF8.GetBytes(body), contentType, name);

    public static Task<HttpResponseMessage> PostDatasetAsync(this HttpClient client, byte[] body, string contentType, string? name = null) =>
        client.PostDatasetWithQueryAsync(body, contentType, name is null ? "" : $"name={Uri.EscapeDataString(name)}");

    /// <summary>POSTs the body's UTF-8 bytes exactly with this Content-Type and this query string (without its '?').</summary>
    public static Task<HttpResponseMessage> PostDatasetWithQueryAsync(this HttpClient client, string body, string contentType, string query) =>
        client.PostDatasetWithQueryAsync(Encoding.UTF8.GetBytes(body), contentType, query);

    private static Task<HttpResponseMessage> PostDatasetWithQueryAsync(this HttpClient client, byte[] body, string contentType, string query)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = MediaTypeHeaderValue.Parse(contentType);
        return client.PostAsync(query.Length == 0 ? "/v1/datasets" : $"/v1/datasets?{query}", content);
    }

    /// <summary>Everything under the storage root's datasets/ directory, and dataset staging under tmp/, relative to the root.</summary>
    public static string[] DatasetEntries(string storageRoot)
    {
        string datasets = Path.Combine(storageRoot, "datasets");
        string staging = Path.Combine(storageRoot, "tmp");
        IEnumerable<string> stored = Directory.Exists(datasets) ? Directory.EnumerateFileSystemEntries(datasets, "*", SearchOption.AllDirectories) : [];
        IEnumerable<string> staged = Directory.Exists(staging) ? Directory.EnumerateFileSystemEntries(staging, "dataset-*") : [];
        return [.. stored.Concat(staged).Select(path => Path.GetRelativePath(storageRoot, path)).Order()];
    }
}
