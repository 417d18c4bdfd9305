using Microsoft.AspNetCore.Authorization;

namespace GruService.Api.Security;

/// <summary>What an API key may do. A key carries one or more scopes (Security:ApiKeys:{name}:Scopes).</summary>
public static class ApiKeyScopes
{
    /// <summary>Read models, datasets and training jobs (and the OpenAPI document and metrics when they are locked).</summary>
    public const string Read = "read";

    /// <summary>Call /forecast and /classify when Security:RequireKeyForInference is true.</summary>
    public const string Infer = "infer";

    /// <summary>Upload, activate and delete models and datasets, start and cancel training jobs; implies read.</summary>
    public const string Manage = "manage";

    public static readonly IReadOnlyList<string> All = [Read, Infer, Manage];

    /// <summary>The claim type a key's scopes are carried in on the authenticated user.</summary>
    public const string ClaimType = "scope";
}

/// <summary>
/// The authorization policies endpoints require, through <see cref="SecurityExtensions.RequireApiKey"/>: only where the
/// policy's Security:RequireKeyFor* switch is on, so that an endpoint whose switch is off takes anonymous requests.
/// </summary>
public static class ApiKeyPolicies
{
    public const string Read = "api-key:read";
    public const string Infer = "api-key:infer";
    public const string Manage = "api-key:manage";
    public const string Docs = "api-key:docs";
    public const string Metrics = "api-key:metrics";

    /// <summary>Every policy with the scopes that satisfy it and whether the configuration currently requires a key for it.</summary>
    internal static readonly IReadOnlyDictionary<string, ApiKeyScopeRequirement> Requirements = new Dictionary<string, ApiKeyScopeRequirement>
    {
        [Read] = new([ApiKeyScopes.Read, ApiKeyScopes.Manage], o => o.RequireKeyForReads, "Security:RequireKeyForReads"),
        [Infer] = new([ApiKeyScopes.Infer], o => o.RequireKeyForInference, "Security:RequireKeyForInference"),
        [Manage] = new([ApiKeyScopes.Manage], o => o.RequireKeyForManage, "Security:RequireKeyForManage"),
        [Docs] = new([ApiKeyScopes.Read, ApiKeyScopes.Manage], o => o.RequireKeyForDocs, "Security:RequireKeyForDocs"),
        [Metrics] = new([ApiKeyScopes.Read, ApiKeyScopes.Manage], o => o.RequireKeyForMetrics, "Security:RequireKeyForMetrics"),
    };

    /// <summary>
    /// The key requirements an endpoint carries: those of its policies, which it has only where the configuration needs
    /// a key (<see cref="SecurityExtensions.RequireApiKey"/>).
    /// </summary>
    internal static IEnumerable<ApiKeyScopeRequirement> RequiredBy(IEnumerable<object> endpointMetadata) =>
        endpointMetadata.OfType<IAuthorizeData>()
            .Select(data => data.Policy)
            .OfType<string>()
            .Where(Requirements.ContainsKey)
            .Select(policy => Requirements[policy]);
}
