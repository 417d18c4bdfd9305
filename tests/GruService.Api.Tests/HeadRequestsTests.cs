using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace GruService.Api.Tests;

public class HeadRequestsTests
{
    [Fact]
    public async Task Head_AnswersAsGet_ForEveryGetOperationInTheDocument()
    {
        using var factory = new GruServiceFactory();
        HttpClient client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("demand", ReferenceModel.Load(8).File)).StatusCode);
        JsonObject paths = (await (await client.GetAsync("/openapi/v1.json")).JsonAsync())["paths"]!.AsObject();

        string[] gets = [.. paths.Where(p => p.Value!["get"] is not null).Select(p => p.Key.Replace("{name}", "demand").Replace("{id}", "unknown"))];
        Assert.Contains("/healthz", gets);
        Assert.Contains("/metrics", gets);
        // Errors too: a 404 and a 400 answer HEAD as they answer GET; and the document itself, which does not list itself.
        foreach (string path in gets.Append("/v1/models/unknown").Append("/v1/training-jobs?status=done").Append("/openapi/v1.json"))
        {
            HttpResponseMessage get = await client.GetAsync(path);
            HttpResponseMessage head = await client.SendAsync(new HttpRequestMessage(HttpMethod.Head, path));
            Assert.True(get.StatusCode == head.StatusCode, $"GET {path} answered {(int)get.StatusCode}, HEAD {(int)head.StatusCode}");
            Assert.Equal(get.Content.Headers.ContentType, head.Content.Headers.ContentType);
            Assert.Equal(get.Headers.CacheControl, head.Headers.CacheControl);
            // The body: the test server, unlike Kestrel, passes on what a HEAD handler writes (Head_SendsHeadersOnly_OverARealConnection).
        }
    }

    [Fact]
    public async Task Document_ListsEachGetOnce_WithoutAHeadTwin()
    {
        using var factory = new GruServiceFactory();
        JsonObject document = await (await factory.CreateClient().GetAsync("/openapi/v1.json")).JsonAsync();
        foreach ((string path, JsonNode? item) in document["paths"]!.AsObject())
            Assert.False(item!.AsObject().ContainsKey("head"), $"{path} lists a HEAD operation");
        Assert.NotNull(document["paths"]!["/healthz"]!["get"]);
        Assert.Contains("HEAD", (string?)document["info"]!["description"]);
    }

    /// <summary>
    /// Kestrel drops the body a HEAD handler writes and keeps the Content-Length it set: read off the wire, the
    /// answer to HEAD ends with its headers, so the next answer on the connection follows at once.
    /// </summary>
    [Fact]
    public async Task Head_SendsHeadersOnly_OverARealConnection()
    {
        string root = Directory.CreateTempSubdirectory("gru-head-").FullName;
        try
        {
            using var service = new ServiceProcess(root);
            await service.StartAsync();
            byte[] received = await service.ExchangeRawAsync(Encoding.ASCII.GetBytes(
                "HEAD /metrics HTTP/1.1\r\nHost: localhost\r\n\r\nHEAD /healthz HTTP/1.1\r\nHost: localhost\r\n\r\nGET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"));
            string[] answers = Encoding.UTF8.GetString(received).Split("\r\n\r\n");

            Assert.StartsWith("HTTP/1.1 200 OK", answers[0]);
            Assert.Matches(@"Content-Length: [1-9]\d*", answers[0]);
            Assert.Contains("Content-Type: text/plain; version=0.0.4", answers[0]);
            Assert.StartsWith("HTTP/1.1 200 OK", answers[1]);
            Assert.Contains("Content-Type: application/json", answers[1]);
            Assert.StartsWith("HTTP/1.1 200 OK", answers[2]);
            Assert.Contains("\"status\":\"Healthy\"", answers[3]);
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }
}
