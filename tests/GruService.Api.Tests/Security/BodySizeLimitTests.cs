using System.Net;
using System.Text;

namespace GruService.Api.Tests.Security;

/// <summary>Kestrel, in a real process, does not cut uploads off at its own 30 MB default before the endpoints' limits.</summary>
public sealed class BodySizeLimitTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("gru-body-size-").FullName;
    private readonly ServiceProcess _service;

    public BodySizeLimitTests() => _service = new ServiceProcess(_root, "--Inference:MaxRequestBytes=2048");

    [Fact]
    public async Task DatasetUpload_LargerThanKestrelsDefaultLimit_IsStored_AndInferenceKeepsItsOwnSmallLimit()
    {
        await _service.StartAsync();
        HttpClient client = _service.Client;
        var csv = new StringBuilder("t,x\n", 34_000_000);
        for (int i = 0; csv.Length < 32_000_000; i++) csv.Append(i).Append(",0.5\n");
        var content = new ByteArrayContent(Encoding.ASCII.GetBytes(csv.ToString()));
        content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("text/csv");
        HttpResponseMessage response = await client.PostAsync("/v1/datasets?name=large", content);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);

        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("demand", ReferenceModel.Load(8).File)).StatusCode);
        string body = "{\"inputs\": [[" + string.Join(',', Enumerable.Repeat("0.5", 1000)) + "]]}";
        await (await client.PostJsonAsync("/v1/models/demand/forecast", body)).AssertProblemAsync(413, "body_too_large");
    }

    [Fact]
    public async Task TrainingJob_LargerThanKestrelsLimit_Returns413Problem_NamingTheLimit()
    {
        await _service.StartAsync();
        var json = new StringBuilder("{\"model\": \"m\", \"task\": \"forecast\", \"data\": {\"series\": [[0.5", 31_000_000);
        while (json.Length < 30_500_000) json.Append(",0.5");
        json.Append("]]}}");
        // Expect: 100-continue, as curl sends for a large body: Kestrel refuses it before the client sends it, rather than
        // closing the connection under a client still writing.
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/training-jobs") { Content = new StringContent(json.ToString(), Encoding.UTF8, "application/json") };
        request.Headers.ExpectContinue = true;
        string detail = await (await _service.Client.SendAsync(request)).AssertProblemAsync(413, "body_too_large");
        Assert.Contains("limit of 30000000 bytes", detail);
        Assert.Contains("POST /v1/datasets", detail);
    }

    public void Dispose()
    {
        _service.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
