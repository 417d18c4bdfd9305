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

    public void Dispose()
    {
        _service.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
