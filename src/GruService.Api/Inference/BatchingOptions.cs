using GruService.Api.Models;
using Microsoft.Extensions.Options;

namespace GruService.Api.Inference;

/// <summary>
/// Dynamic batching: concurrent forecast or classify requests for the same model version share one forward pass.
/// Bound from the "Inference:Batching" section; <see cref="Models"/> overrides any of the settings per model name.
/// </summary>
public sealed class BatchingOptions
{
    public const string Section = "Inference:Batching";

    public const int MaxBatchSizeLimit = 1_000_000;

    /// <summary>One second: a longer wait would hold every request of a quiet model for longer than any client waits.</summary>
    public const int MaxQueueDelayLimit = 1_000_000;

    /// <summary>False: every request runs its own forward pass as soon as it is read, concurrently with others.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Most sequences in one forward pass. Requests are never split: one request with more sequences than this still
    /// runs, alone.
    /// </summary>
    public int MaxBatchSize { get; set; } = 64;

    /// <summary>
    /// How long the request that starts a batch waits for more requests to join it, while fewer than MaxBatchSize
    /// sequences are waiting. 0: batch only what is already waiting, never wait.
    /// </summary>
    public int MaxQueueDelayMicroseconds { get; set; }

    /// <summary>Per model name: settings that replace the global ones for that model's requests.</summary>
    public Dictionary<string, ModelBatchingOptions> Models { get; set; } = new(StringComparer.Ordinal);

    /// <summary>The settings that apply to <paramref name="model"/>'s requests.</summary>
    public BatchSettings For(string model)
    {
        var settings = new BatchSettings(Enabled, MaxBatchSize, MaxQueueDelayMicroseconds);
        if (!Models.TryGetValue(model, out ModelBatchingOptions? overrides))
            return settings;
        return new BatchSettings(
            overrides.Enabled ?? settings.Enabled,
            overrides.MaxBatchSize ?? settings.MaxBatchSize,
            overrides.MaxQueueDelayMicroseconds ?? settings.MaxQueueDelayMicroseconds);
    }
}

/// <summary>One model's batching settings under Inference:Batching:Models:{name}; an unset key keeps the global value.</summary>
public sealed class ModelBatchingOptions
{
    public bool? Enabled { get; set; }
    public int? MaxBatchSize { get; set; }
    public int? MaxQueueDelayMicroseconds { get; set; }
}

/// <summary>The batching settings in force for one model.</summary>
public readonly record struct BatchSettings(bool Enabled, int MaxBatchSize, int MaxQueueDelayMicroseconds);

/// <summary>Checks every batching setting at start-up, naming the configuration key that is wrong.</summary>
internal sealed class BatchingOptionsValidator : IValidateOptions<BatchingOptions>
{
    public ValidateOptionsResult Validate(string? name, BatchingOptions options)
    {
        var failures = new List<string>();
        CheckSize(BatchingOptions.Section, options.MaxBatchSize, failures);
        CheckDelay(BatchingOptions.Section, options.MaxQueueDelayMicroseconds, failures);
        foreach (var (model, overrides) in options.Models)
        {
            string section = $"{BatchingOptions.Section}:Models:{model}";
            if (!ModelName.IsValid(model))
                failures.Add($"{section}: '{model}' is not a model name ({ModelName.Rule}), so these settings would never apply.");
            if (overrides is null)
                continue;
            if (overrides.MaxBatchSize is { } size)
                CheckSize(section, size, failures);
            if (overrides.MaxQueueDelayMicroseconds is { } delay)
                CheckDelay(section, delay, failures);
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    private static void CheckSize(string section, int size, List<string> failures)
    {
        if (size is < 1 or > BatchingOptions.MaxBatchSizeLimit)
            failures.Add($"{section}:MaxBatchSize is {size}; it must be from 1 to {BatchingOptions.MaxBatchSizeLimit} sequences (to switch batching off, set {section}:Enabled to false).");
    }

    private static void CheckDelay(string section, int delay, List<string> failures)
    {
        if (delay is < 0 or > BatchingOptions.MaxQueueDelayLimit)
            failures.Add($"{section}:MaxQueueDelayMicroseconds is {delay}; it must be from 0 (batch only what is already waiting) to {BatchingOptions.MaxQueueDelayLimit} (one second).");
    }
}
