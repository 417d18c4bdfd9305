using System.Text.Json.Serialization;
using GruService.ParseBaseline;

// Why this exists: scripts/load-test.sh measures the service's forecast throughput against the most a bare
// minimal-API endpoint reaches on this machine with the same body, in the same run (issue 4 asks for at least 40% of
// it). This app is that endpoint: Kestrel with its defaults, no middleware, no request logging, and one POST that
// deserialises the forecast body into a DTO with System.Text.Json source generation and answers a tiny JSON object.
// It maps the forecast route itself so the load generator's Lua script and URL path are the same for both.
// With --ParseBody=false the endpoint reads the body to its end without parsing it: the HTTP floor, what Kestrel alone
// costs a request of that size (the load test's "floor" run), so the parse's own share can be told apart.
// Run: dotnet GruService.ParseBaseline.dll --urls http://127.0.0.1:PORT [--ParseBody=false]
var builder = WebApplication.CreateSlimBuilder(args);
builder.Logging.ClearProviders();
builder.Services.ConfigureHttpJsonOptions(options =>
    options.SerializerOptions.TypeInfoResolverChain.Insert(0, BaselineJsonContext.Default));

var app = builder.Build();

if (app.Configuration.GetValue("ParseBody", defaultValue: true))
{
    app.MapPost("/v1/models/{name}/forecast", (string name, ForecastBody body) =>
        new ParsedAnswer(name, body.Inputs.Length, body.Inputs.Sum(sequence => sequence.Length)));
}
else
{
    app.MapPost("/v1/models/{name}/forecast", async (string name, HttpRequest request) =>
    {
        long bytes = 0;
        while (true)
        {
            System.IO.Pipelines.ReadResult read = await request.BodyReader.ReadAsync();
            bytes += read.Buffer.Length;
            request.BodyReader.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted) break;
        }
        return new ReadAnswer(name, bytes);
    });
}
// The load-test script waits on this, as it does on the service's readiness probe.
app.MapGet("/readyz", () => "ready");

app.Run();

namespace GruService.ParseBaseline
{
    /// <summary>The service's forecast request: sequences of time steps of features.</summary>
    internal sealed record ForecastBody(float[][][] Inputs);

    /// <summary>What was parsed, so the body is used and the answer is small.</summary>
    internal sealed record ParsedAnswer(string Model, int Sequences, int Steps);

    /// <summary>How much was read, without parsing it.</summary>
    internal sealed record ReadAnswer(string Model, long Bytes);

    [JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
    [JsonSerializable(typeof(ForecastBody))]
    [JsonSerializable(typeof(ParsedAnswer))]
    [JsonSerializable(typeof(ReadAnswer))]
    internal sealed partial class BaselineJsonContext : JsonSerializerContext;
}
