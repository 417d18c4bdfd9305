using System.Net.Http.Headers;
using GruService.Engine;
using GruService.Engine.ModelFiles;

namespace GruService.Api.Tests.Fuzzing;

/// <summary>Inputs the fuzzer (tests/GruService.Fuzz) found answered with a 500, kept as regression tests.</summary>
public class FuzzFindingsTests() : ServiceTestBase(new Dictionary<string, string?> { ["Models:BundledDirectory"] = "models" })
{
    public static TheoryData<string, byte[]> UndecodablePropertyNames => new()
    {
        // Seed 1, iteration 763: a 0xE2 0x82 (a cut-off three-byte sequence) spliced into the body.
        { "truncated UTF-8 sequence", [.. "{\""u8, 0xE2, 0x82, .. "\": 1}"u8] },
        { "overlong encoding", [.. "{\""u8, 0xC0, 0xAF, .. "\": 1}"u8] },
        { "0xFF byte after inputs", [.. "{\"inputs\": [[1]], \""u8, 0xFF, .. "\": 2}"u8] },
        { "escaped lone high surrogate", "{\"\\ud800\": 1}"u8.ToArray() },
        // Seed 20261121, iterations 849 and 1391: escaped lone surrogates, which fail the comparison with 'inputs' itself.
        { "escaped lone low surrogate", "{\"\\udc00\": 1}"u8.ToArray() },
        { "escaped high surrogate without its low one, after inputs", "{\"inputs\": [[1]], \"\\ud83dx\": 2}"u8.ToArray() },
    };

    [Theory]
    [MemberData(nameof(UndecodablePropertyNames))]
    public async Task AnUnknownPropertyWhoseNameCannotBeDecoded_Answers400InvalidInput(string what, byte[] body)
    {
        var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        HttpResponseMessage response = await Client.PostAsync("/v1/models/ett-oil-temperature/forecast", content);

        string detail = await response.AssertProblemAsync(400, "invalid_input");
        Assert.True(detail.StartsWith("Unknown property", StringComparison.Ordinal), $"{what}: {detail}");
    }

    // Seed 20261121, iteration 2401: an escaped lone surrogate among the keys of inline training data.
    [Fact]
    public async Task StartJob_Answers400_WhenInlineDataHoldsALoneSurrogate()
    {
        HttpResponseMessage response = await Client.PostJsonAsync("/v1/training-jobs",
            """{"model":"m","task":"forecast","data":{"series":[[1,2,3]],"\udc00columns":["a"]}}""");
        string detail = await response.AssertProblemAsync(400, "invalid_training_job");
        Assert.Contains("Unicode", detail);
    }

    // Seed 1, iteration 416: a finite but extreme head weight makes a valid request's forecast overflow float32.
    [Fact]
    public async Task Forecast_Answers400NonFiniteOutput_WhenTheModelOverflows_AndTheActiveVersionIsUntouched()
    {
        GruModel bundled = ModelFile.Read(await File.ReadAllBytesAsync(Path.Combine(AppContext.BaseDirectory, "models", "ett-oil-temperature.safetensors")), new ModelLimits());
        float[] headWeight = [.. bundled.HeadWeight];
        Array.Fill(headWeight, -float.MaxValue);
        var overflowing = new GruModel(bundled.Config, bundled.Directions, headWeight, bundled.HeadBias);
        (await Client.PutModelAsync("overflow", ModelFile.Write(overflowing))).EnsureSuccessStatusCode();
        // The bundled forecaster reads one value per step: 96 hourly oil temperatures around 10 °C.
        string request = $"{{\"inputs\":[[{string.Join(',', Enumerable.Range(0, 96).Select(i => (10 + Math.Sin(i)).ToString("R", System.Globalization.CultureInfo.InvariantCulture)))}]]}}";

        string detail = await (await Client.PostJsonAsync("/v1/models/overflow/forecast", request)).AssertProblemAsync(400, "non_finite_output");
        Assert.Contains("inputs[0]", detail);
        (await Client.PostJsonAsync("/v1/models/ett-oil-temperature/forecast", request)).EnsureSuccessStatusCode();
    }
}
