using System.Text;
using System.Text.Json;
using GruService.Engine;
using GruService.Engine.ModelFiles;
using GruService.Fuzz.Mutations;

namespace GruService.Fuzz;

/// <summary>
/// Mutates valid model files and checks, for each: ModelFile.Read (the parser PUT /v1/models/{name} runs) either
/// returns a model or throws ModelFileException, nothing else; and, for every accepted file and a sampled fraction of
/// the rejected ones, the upload endpoint agrees over HTTP, an accepted version answers a valid forecast/classify
/// request with 2xx, and after a rejected upload the active version still answers exactly as before.
/// </summary>
public sealed class ModelFileFuzzer(ServiceProbe probe, FuzzStats stats, FailureLog failures, FuzzSettings settings, IReadOnlyList<SeedModel> seeds, IterationStage stage)
{
    /// <summary>Versions an HTTP target may pile up before it is deleted and its seed uploaded afresh (keeps the storage root small).</summary>
    private const int VersionsBeforeReset = 100;

    private readonly ModelLimits _limits = new();
    private readonly TargetState[] _targets = new TargetState[seeds.Count];

    /// <summary>What an HTTP target serves now: its version, a valid request for it and the exact answer to that request.</summary>
    private sealed record TargetState(string Name, int Version, GruModel Model, string Request, string Answer, int UploadedVersions);

    /// <summary>Uploads every seed as its own model and records its answer to a valid request.</summary>
    public async Task SetUpAsync()
    {
        for (int k = 0; k < seeds.Count; k++)
            _targets[k] = await ResetTargetAsync(k, -1) ?? throw new InvalidOperationException($"Seed model {seeds[k].Source} could not be served; see the failures.");
    }

    public async Task RunIterationAsync(int iteration, Random random)
    {
        stats.CountModelFileMutation();
        stage.Set("mutating a model file");
        int k = random.Next(seeds.Count);
        SeedModel seed = seeds[k];
        byte[] file = seed.File;
        var applied = new List<string>();
        int mutations = random.Next(4) == 0 ? random.Next(2, 5) : 1;
        for (int m = 0; m < mutations; m++)
        {
            file = ModelFileMutator.Mutate(random, file, seeds[random.Next(seeds.Count)].File, out string name);
            applied.Add(name);
        }
        string context = $"seed model: {seed.Source}; mutations: {string.Join(", ", applied)}";

        stage.Set($"ModelFile.Read in-process ({context})", file);
        GruModel? parsed = null;
        string? rejection = null;
        try
        {
            parsed = ModelFile.Read(file, _limits);
            stats.CountModelFileAccepted();
        }
        catch (ModelFileException e)
        {
            rejection = e.Message;
        }
        catch (Exception e)
        {
            failures.Record(FailureKind.Crash, iteration, $"ModelFile.Read threw {e.GetType().FullName} rather than ModelFileException.\n{context}\n{e}", file);
            return;
        }

        if (parsed is null && random.NextDouble() >= settings.ModelFileHttpFraction) return;
        await UploadAsync(iteration, random, k, file, parsed, rejection, context);
    }

    private async Task UploadAsync(int iteration, Random random, int k, byte[] file, GruModel? parsed, string? rejection, string context)
    {
        TargetState target = _targets[k];
        stats.CountModelFileUploaded();
        HttpAnswer? upload = await probe.SendAsync(iteration, ServiceProbe.OctetStream($"/v1/models/{target.Name}", file), file, context);
        if (upload is null || upload.Status >= 500) return;

        if (upload.IsSuccess)
        {
            if (parsed is null)
            {
                failures.Record(FailureKind.ContractViolation, iteration,
                    $"The upload endpoint accepted a file ModelFile.Read rejects ({rejection}).\n{context}\n{upload.Text}", file);
                return;
            }
            // The new version must answer; it becomes the target's reference for later rejected uploads.
            string request = Seeds.ValidRequest(random, parsed.Config);
            HttpAnswer? answer = await probe.SendAsync(iteration, ServiceProbe.Json(HttpMethod.Post, $"/v1/models/{target.Name}/{TaskPath(parsed.Config)}", request),
                file, $"a valid request for the accepted mutated model: {request}\n{context}", () => NonFiniteOutputs.Explain(parsed, Encoding.UTF8.GetBytes(request)));
            if (answer is not { IsSuccess: true })
            {
                // An extreme but finite weight can overflow float32 on a valid input: the service then answers 400
                // non_finite_output, which is right exactly when the in-process forward pass overflows too.
                bool overflowExplained = answer is { Status: 400 } && answer.Text.Contains("\"non_finite_output\"", StringComparison.Ordinal)
                    && NonFiniteOutputs.Explain(parsed, Encoding.UTF8.GetBytes(request)) is not null;
                if (answer is { Status: < 500 } && !overflowExplained)
                    failures.Record(FailureKind.ContractViolation, iteration,
                        $"An accepted model file does not answer a valid request: {answer.Status} {ServiceProbe.Truncate(answer.Text)}\nrequest: {request}\n{context}", file);
                // The broken version is active now; serve the seed again so later iterations do not all fail on it.
                _targets[k] = await ResetTargetAsync(k, iteration) ?? target;
                return;
            }
            target = target with { Version = VersionOf(upload), Model = parsed, Request = request, Answer = answer.Text, UploadedVersions = target.UploadedVersions + 1 };
            _targets[k] = target.UploadedVersions >= VersionsBeforeReset ? await ResetTargetAsync(k, iteration) ?? target : target;
            return;
        }

        if (parsed is not null && upload.Status == 400)
            failures.Record(FailureKind.ContractViolation, iteration,
                $"The upload endpoint rejected a file ModelFile.Read accepts: {ServiceProbe.Truncate(upload.Text)}\n{context}", file);
        // A valid file is refused only when it would change the model's task (a mutated "task" in its config).
        if (parsed is not null && upload.Status == 409 && parsed.Config.Task == target.Model.Config.Task)
            failures.Record(FailureKind.ContractViolation, iteration,
                $"The upload endpoint refused a valid file of the model's own task: {ServiceProbe.Truncate(upload.Text)}\n{context}", file);
        // Nothing may have changed: the same request gets the same answer, from the same version.
        HttpAnswer? after = await probe.SendAsync(iteration, ServiceProbe.Json(HttpMethod.Post, $"/v1/models/{target.Name}/{TaskPath(target.Model.Config)}", target.Request),
            file, $"the reference request after a rejected upload\n{context}", () => NonFiniteOutputs.Explain(target.Model, Encoding.UTF8.GetBytes(target.Request)));
        if (after is { IsSuccess: true } && after.Text != target.Answer)
            failures.Record(FailureKind.ContractViolation, iteration,
                $"After a rejected upload ({upload.Status}) the model answers differently.\nbefore: {ServiceProbe.Truncate(target.Answer)}\nafter: {ServiceProbe.Truncate(after.Text)}\n{context}", file);
        else if (after is { IsSuccess: false, Status: < 500 })
            failures.Record(FailureKind.ContractViolation, iteration,
                $"After a rejected upload ({upload.Status}) the model no longer answers: {after.Status} {ServiceProbe.Truncate(after.Text)}\n{context}", file);
    }

    /// <summary>Deletes the target model (when it exists) and uploads its seed as a fresh version 1.</summary>
    private async Task<TargetState?> ResetTargetAsync(int k, int iteration)
    {
        SeedModel seed = seeds[k];
        string name = $"fuzz-model-{k}";
        if (_targets[k] is not null)
            await probe.SendAsync(iteration, new HttpRequestMessage(HttpMethod.Delete, $"/v1/models/{name}"), null, "resetting a fuzz target");
        HttpAnswer? upload = await probe.SendAsync(iteration, ServiceProbe.OctetStream($"/v1/models/{name}", seed.File), seed.File, $"uploading seed {seed.Source}");
        if (upload is not { IsSuccess: true }) return null;
        string request = Seeds.ValidRequest(new Random(k), seed.Config);
        HttpAnswer? answer = await probe.SendAsync(iteration, ServiceProbe.Json(HttpMethod.Post, $"/v1/models/{name}/{seed.TaskPath}", request), seed.File,
            $"the reference request for seed {seed.Source}");
        if (answer is not { IsSuccess: true })
        {
            failures.Record(FailureKind.ContractViolation, iteration, $"Seed {seed.Source} does not answer a valid request: {answer?.Status} {answer?.Text}", seed.File);
            return null;
        }
        return new TargetState(name, VersionOf(upload), seed.Model, request, answer.Text, 0);
    }

    private static string TaskPath(GruConfig config) => config.Task == GruTask.Forecast ? "forecast" : "classify";

    private static int VersionOf(HttpAnswer created)
    {
        using JsonDocument card = JsonDocument.Parse(Encoding.UTF8.GetString(created.Body));
        return card.RootElement.TryGetProperty("version", out JsonElement version) && version.TryGetInt32(out int v) ? v : -1;
    }
}
