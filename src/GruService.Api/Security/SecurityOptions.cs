using Microsoft.Extensions.Options;

namespace GruService.Api.Security;

/// <summary>API keys and which endpoints need one. Bound from the "Security" section and validated at start.</summary>
public sealed class SecurityOptions
{
    public const string Section = "Security";

    /// <summary>The shortest key accepted: shorter keys are refused at start, as they could be guessed.</summary>
    public const int MinimumKeyLength = 16;

    /// <summary>The keys, by a name that identifies the client in logs and rate limiting (never the key itself).</summary>
    public Dictionary<string, ApiKeyOptions> ApiKeys { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Uploading, activating and deleting models and datasets, and starting and cancelling jobs, need scope manage.</summary>
    public bool RequireKeyForManage { get; set; } = true;

    /// <summary>Reading models, datasets and jobs needs scope read (or manage).</summary>
    public bool RequireKeyForReads { get; set; }

    /// <summary>/forecast and /classify need scope infer.</summary>
    public bool RequireKeyForInference { get; set; }

    /// <summary>The OpenAPI document needs scope read (or manage).</summary>
    public bool RequireKeyForDocs { get; set; }

    /// <summary>/metrics needs scope read (or manage).</summary>
    public bool RequireKeyForMetrics { get; set; }
}

/// <summary>One configured API key.</summary>
public sealed class ApiKeyOptions
{
    /// <summary>The secret the client sends in X-Api-Key or Authorization: Bearer.</summary>
    public string? Key { get; set; }

    /// <summary>What the key may do: read, infer, manage.</summary>
    public string[] Scopes { get; set; } = [];
}

/// <summary>Refuses at start keys that are short, unprintable, duplicated or without known scopes; never names a key's value.</summary>
internal sealed class SecurityOptionsValidator : IValidateOptions<SecurityOptions>
{
    public ValidateOptionsResult Validate(string? name, SecurityOptions options)
    {
        var failures = new List<string>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (keyName, key) in options.ApiKeys)
        {
            string prefix = $"{SecurityOptions.Section}:ApiKeys:{keyName}";
            if (string.IsNullOrEmpty(key.Key))
                failures.Add($"{prefix}:Key is missing; every configured API key needs a value (for example the output of `openssl rand -hex 32`).");
            else if (key.Key.Length < SecurityOptions.MinimumKeyLength)
                failures.Add($"{prefix}:Key is {key.Key.Length} characters long; API keys must be at least {SecurityOptions.MinimumKeyLength} (for example the output of `openssl rand -hex 32`).");
            else if (key.Key.Any(c => c is <= ' ' or > '~'))
                failures.Add($"{prefix}:Key contains spaces, control or non-ASCII characters, which an HTTP header cannot carry reliably; use printable ASCII.");
            else if (seen.TryGetValue(key.Key, out string? other))
                failures.Add($"{prefix}:Key is the same as {SecurityOptions.Section}:ApiKeys:{other}:Key; each key must be distinct so requests are attributed to one name.");
            else
                seen[key.Key] = keyName;

            if (key.Scopes.Length == 0)
                failures.Add($"{prefix}:Scopes is empty; give the key one or more of {string.Join(", ", ApiKeyScopes.All)}.");
            foreach (string scope in key.Scopes.Where(s => !ApiKeyScopes.All.Contains(s)))
                failures.Add($"{prefix}:Scopes has the unknown scope '{scope}'; the scopes are {string.Join(", ", ApiKeyScopes.All)}.");
        }
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
