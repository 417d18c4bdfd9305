extern alias cli;

using cli::GruService.Cli;

namespace GruService.Api.Tests.Cli;

/// <summary>The score commands' client: a service that requires a key for inference must get one.</summary>
// GRU_API_KEY is process-wide, so these tests run in one collection of their own, one after another.
[Collection(nameof(ServiceClientTests))]
public class ServiceClientTests
{
    private const string Variable = "GRU_API_KEY";

    [Fact]
    public void ServiceClient_SendsTheApiKeyOption_InXApiKey_BeforeTheEnvironment()
    {
        using var key = new EnvironmentKey("from-environment");
        using HttpClient client = CommandLine.ServiceClient(["--url", "http://127.0.0.1:5000", "--api-key", "from-option"]);

        Assert.Equal(["from-option"], client.DefaultRequestHeaders.GetValues("X-Api-Key"));
        Assert.Equal(new Uri("http://127.0.0.1:5000"), client.BaseAddress);
    }

    [Fact]
    public void ServiceClient_SendsGruApiKey_WhenNoOptionIsGiven()
    {
        using var key = new EnvironmentKey("from-environment");
        using HttpClient client = CommandLine.ServiceClient(["--model", "m"]);

        Assert.Equal(["from-environment"], client.DefaultRequestHeaders.GetValues("X-Api-Key"));
        Assert.Equal(new Uri("http://127.0.0.1:8080"), client.BaseAddress);
    }

    [Fact]
    public void ServiceClient_SendsNoKey_WhenThereIsNone()
    {
        using var key = new EnvironmentKey(null);
        using HttpClient client = CommandLine.ServiceClient([]);

        Assert.False(client.DefaultRequestHeaders.Contains("X-Api-Key"));
    }

    /// <summary>Sets GRU_API_KEY for one test and puts the old value back.</summary>
    private sealed class EnvironmentKey : IDisposable
    {
        private readonly string? _previous = Environment.GetEnvironmentVariable(Variable);

        public EnvironmentKey(string? value) => Environment.SetEnvironmentVariable(Variable, value);

        public void Dispose() => Environment.SetEnvironmentVariable(Variable, _previous);
    }
}
