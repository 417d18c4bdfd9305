using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace GruService.Api.Tests.Inference;

/// <summary>How an inference answer goes over a real connection (the test server would add a length of its own).</summary>
public class AnswerFramingTests
{
    [Fact]
    public async Task InferenceAnswers_CarryAContentLength_NotChunkedFraming()
    {
        string root = Directory.CreateTempSubdirectory("gru-framing-").FullName;
        try
        {
            using var service = new ServiceProcess(root);
            await service.StartAsync();
            foreach (int seed in new[] { 8, 5 }) // a forecast model and a classify model
            {
                ReferenceModel model = ReferenceModel.Load(seed);
                Assert.Equal(HttpStatusCode.Created, (await service.Client.PutModelAsync(model.Name, model.File)).StatusCode);

                (string head, byte[] body) = await PostAsync(service, $"/v1/models/{model.Name}/{model.Task}", HttpTestExtensions.Serialize(model.Inputs));

                Assert.StartsWith("HTTP/1.1 200 OK", head);
                Assert.Contains("\r\nContent-Type: application/json; charset=utf-8", head);
                Assert.Contains($"\r\nContent-Length: {body.Length}", head);
                Assert.DoesNotContain("Transfer-Encoding", head);
                Assert.Equal(model.Name, (string?)JsonNode.Parse(body)!["model"]);
            }
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>One POST on its own connection, read to the end: the headers and the body's bytes.</summary>
    private static async Task<(string Head, byte[] Body)> PostAsync(ServiceProcess service, string path, string json)
    {
        byte[] content = Encoding.UTF8.GetBytes(json);
        byte[] all = await service.ExchangeRawAsync([.. Encoding.ASCII.GetBytes(
            $"POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {content.Length}\r\nConnection: close\r\n\r\n"), .. content]);
        int end = all.AsSpan().IndexOf("\r\n\r\n"u8);
        Assert.True(end > 0, "no end of headers in: " + Encoding.UTF8.GetString(all));
        return (Encoding.ASCII.GetString(all, 0, end), all[(end + 4)..]);
    }
}
