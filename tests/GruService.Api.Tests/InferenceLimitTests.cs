using System.Net;
using System.Text;

namespace GruService.Api.Tests;

public class InferenceLimitTests() : ServiceTestBase(Limits)
{
    private static readonly Dictionary<string, string?> Limits = new()
    {
        ["Inference:MaxRequestBytes"] = "4096",
        ["Inference:MaxSequences"] = "3",
        ["Inference:MaxStepsPerSequence"] = "5",
        ["Inference:MaxTotalSteps"] = "8",
    };
    private ReferenceModel _model = null!;

    public override async Task InitializeAsync()
    {
        await base.InitializeAsync();
        _model = ReferenceModel.Seeds().Select(ReferenceModel.Load).First(m => m.InputSize == 1 && m.Task == "forecast");
        Assert.Equal(HttpStatusCode.Created, (await Client.PutModelAsync("small", _model.File)).StatusCode);
    }

    private static string Body(params int[] lengths) =>
        "{\"inputs\": [" + string.Join(", ", lengths.Select(n => "[" + string.Join(", ", Enumerable.Repeat("0.5", n)) + "]")) + "]}";

    [Fact]
    public async Task Forecast_Succeeds_AtEveryLimit()
    {
        Assert.Equal(HttpStatusCode.OK, (await Client.PostJsonAsync("/v1/models/small/forecast", Body(5, 2, 1))).StatusCode);
    }

    [Fact]
    public async Task Forecast_Returns400_ForTooManySequences()
    {
        string detail = await (await Client.PostJsonAsync("/v1/models/small/forecast", Body(1, 1, 1, 1))).AssertProblemAsync(400, "invalid_input");
        Assert.Contains("more than 3 sequences", detail);
    }

    [Fact]
    public async Task Forecast_Returns400_ForTooManyStepsInOneSequence()
    {
        string detail = await (await Client.PostJsonAsync("/v1/models/small/forecast", Body(2, 6))).AssertProblemAsync(400, "invalid_input");
        Assert.Contains("inputs[1] has more than 5 time steps", detail);
    }

    [Fact]
    public async Task Forecast_Returns400_ForTooManyStepsInAll()
    {
        string detail = await (await Client.PostJsonAsync("/v1/models/small/forecast", Body(5, 4))).AssertProblemAsync(400, "invalid_input");
        Assert.Contains("more than 8 time steps in all", detail);
    }

    [Fact]
    public async Task Forecast_Returns413_ForOversizedBody()
    {
        string body = "{\"inputs\": [[" + string.Join(", ", Enumerable.Repeat("0.5", 2000)) + "]]}";
        string detail = await (await Client.PostJsonAsync("/v1/models/small/forecast", body)).AssertProblemAsync(413, "body_too_large");
        Assert.Contains("4096 bytes", detail);
    }

    [Fact]
    public async Task Forecast_Returns413_ForOversizedChunkedBody()
    {
        // No Content-Length: the limit is enforced while reading.
        string body = "{\"inputs\": [[" + string.Join(", ", Enumerable.Repeat("0.5", 2000)) + "]]}";
        var content = new StreamContent(new MemoryStream(Encoding.UTF8.GetBytes(body)));
        content.Headers.ContentType = new("application/json");
        var request = new HttpRequestMessage(HttpMethod.Post, "/v1/models/small/forecast") { Content = content };
        request.Headers.TransferEncodingChunked = true;
        await (await Client.SendAsync(request)).AssertProblemAsync(413, "body_too_large");
    }
}
