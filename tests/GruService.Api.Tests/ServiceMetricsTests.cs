using System.Net;

namespace GruService.Api.Tests;

public class ServiceMetricsTests
{
    [Fact]
    public async Task Metrics_CountInferenceSequencesStepsErrorsAndActiveVersions()
    {
        ReferenceModel model = ReferenceModel.Load(8);
        using var factory = new GruServiceFactory();
        HttpClient client = await factory.ReadyClientAsync();
        await client.PutModelAsync("demand", model.File);
        await client.PutModelAsync("demand", TestModelFiles.Described(model, "version 2"));
        await client.PutModelAsync("gone", model.File);
        await client.DeleteAsync("/v1/models/gone");

        int steps = model.Inputs.Sum(s => s.Length);
        for (int i = 0; i < 3; i++)
            Assert.Equal(HttpStatusCode.OK, (await client.PostJsonAsync("/v1/models/demand/forecast", HttpTestExtensions.Serialize(model.Inputs))).StatusCode);
        await client.PostJsonAsync("/v1/models/demand/forecast", "{\"inputs\": []}");
        await client.PostJsonAsync("/v1/models/demand/classify", HttpTestExtensions.Serialize(model.Inputs));
        await client.GetAsync("/v1/models/missing");

        string text = await client.GetStringAsync("/metrics");
        Assert.Contains($"gruservice_inference_sequences_total{{model=\"demand\",task=\"forecast\"}} {3 * model.Inputs.Length}\n", text);
        Assert.Contains($"gruservice_inference_time_steps_total{{model=\"demand\",task=\"forecast\"}} {3 * steps}\n", text);
        Assert.Contains("gruservice_inference_duration_seconds_count{model=\"demand\",task=\"forecast\"} 3\n", text);
        Assert.Contains("gruservice_inference_duration_seconds_bucket{model=\"demand\",task=\"forecast\",le=\"+Inf\"} 3\n", text);
        Assert.Contains("gruservice_errors_total{reason=\"invalid_input\"} 1\n", text);
        Assert.Contains("gruservice_errors_total{reason=\"wrong_task\"} 1\n", text);
        Assert.Contains("gruservice_errors_total{reason=\"unknown_model\"} 1\n", text);
        Assert.Contains("gruservice_model_active_version{model=\"demand\"} 2\n", text);
        Assert.DoesNotContain("model=\"gone\"", text);
    }
}
