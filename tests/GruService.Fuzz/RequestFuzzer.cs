using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GruService.Fuzz.Mutations;

namespace GruService.Fuzz;

/// <summary>
/// Mutates valid forecast, classify and training-job request bodies and POSTs each through the real HTTP stack,
/// sometimes with another content type, chunked framing, or to the wrong model or endpoint. Every answer must be 2xx
/// or a 4xx problem. A training job that is accepted is cancelled at once (a 409 because it already finished, and a
/// 429 because the queue is full, are valid answers too).
/// </summary>
public sealed class RequestFuzzer(ServiceProbe probe, FuzzStats stats, FuzzSettings settings, IReadOnlyList<SeedModel> bundledModels, IReadOnlyDictionary<string, string> exampleBodies, IterationStage stage)
{
    private static readonly string?[] OtherContentTypes =
    [
        null, "text/plain", "application/json; charset=utf-16", "application/problem+json", "multipart/form-data; boundary=x",
        "application/x-www-form-urlencoded", "application/json; charset=\"", "*/*", "", "application/JSON", "application/json;;",
        "application/vnd.api+json", "text/json",
    ];

    /// <summary>Valid bodies per bundled model: its example (when the repository has one) and generated ones.</summary>
    private readonly List<(SeedModel Model, string Body)> _seeds = BuildSeeds(bundledModels, exampleBodies);

    public async Task RunIterationAsync(int iteration, Random random)
    {
        stage.Set("mutating a request");
        if (random.NextDouble() < settings.TrainingRequestFraction)
        {
            await TrainingJobAsync(iteration, random);
            return;
        }
        stats.CountRequestMutation();
        var (model, body) = _seeds[random.Next(_seeds.Count)];
        (byte[] mutated, string applied) = Mutate(random, body);

        // Mostly the model's own endpoint; sometimes the other task's, an unknown model, or another model (other input size).
        SeedModel served = model;
        string path;
        switch (random.Next(20))
        {
            case 0:
                path = $"/v1/models/{model.Source}/{(model.TaskPath == "forecast" ? "classify" : "forecast")}";
                break;
            case 1:
                path = "/v1/models/no-such-model/" + model.TaskPath;
                break;
            case 2:
                served = bundledModels[random.Next(bundledModels.Count)];
                path = $"/v1/models/{served.Source}/{served.TaskPath}";
                break;
            default:
                path = $"/v1/models/{model.Source}/{model.TaskPath}";
                break;
        }
        string? contentType = random.Next(8) == 0 ? OtherContentTypes[random.Next(OtherContentTypes.Length)] : "application/json";
        bool chunked = random.Next(5) == 0;
        await probe.SendAsync(iteration, ServiceProbe.Request(HttpMethod.Post, path, mutated, contentType, chunked), mutated,
            $"request seed for {model.Source}; mutations: {applied}", () => NonFiniteOutputs.Explain(served.Model, mutated));
    }

    private async Task TrainingJobAsync(int iteration, Random random)
    {
        stats.CountTrainingRequestMutation();
        string body = Seeds.TrainingRequests[random.Next(Seeds.TrainingRequests.Count)];
        // One request in five goes out unmutated, so the accept-then-cancel path is exercised too.
        (byte[] mutated, string applied) = random.Next(5) == 0 ? (Encoding.UTF8.GetBytes(body), "none") : Mutate(random, body);
        string context = $"training job seed; mutations: {applied}";
        HttpAnswer? answer = await probe.SendAsync(iteration, ServiceProbe.Request(HttpMethod.Post, "/v1/training-jobs", mutated, "application/json", random.Next(5) == 0),
            mutated, context);
        if (answer is not { Status: 202 }) return;
        string? id = null;
        try
        {
            using JsonDocument accepted = JsonDocument.Parse(answer.Body);
            id = accepted.RootElement.GetProperty("id").GetString();
        }
        catch (Exception e) when (e is JsonException or KeyNotFoundException or InvalidOperationException)
        {
        }
        if (id is null) return;
        await probe.SendAsync(iteration, new HttpRequestMessage(HttpMethod.Post, $"/v1/training-jobs/{Uri.EscapeDataString(id)}/cancel"), mutated,
            $"cancelling the accepted job {id}\n{context}");
    }

    /// <summary>One to three mutations: structural ones on the tree, then at most one textual one on the bytes.</summary>
    private static (byte[] Body, string Applied) Mutate(Random random, string body)
    {
        JsonNode? tree = JsonNode.Parse(body);
        var applied = new List<string>();
        int mutations = random.Next(3) == 0 ? random.Next(2, 4) : 1;
        bool textual = random.Next(3) == 0;
        for (int m = 0; m < mutations - (textual ? 1 : 0); m++)
        {
            tree = JsonMutator.MutateTree(random, tree, out string name);
            applied.Add(name);
        }
        byte[] bytes = JsonMutator.Serialize(tree);
        if (textual)
        {
            bytes = JsonMutator.MutateText(random, tree, bytes, out string name);
            applied.Add("text_" + name);
        }
        return (bytes, string.Join(", ", applied));
    }

    private static List<(SeedModel, string)> BuildSeeds(IReadOnlyList<SeedModel> models, IReadOnlyDictionary<string, string> examples)
    {
        var seeds = new List<(SeedModel, string)>();
        var random = new Random(7);
        foreach (SeedModel model in models)
        {
            if (examples.TryGetValue(model.Source, out string? example))
                seeds.Add((model, example));
            for (int i = 0; i < 3; i++) seeds.Add((model, Seeds.ValidRequest(random, model.Config)));
        }
        return seeds;
    }
}
