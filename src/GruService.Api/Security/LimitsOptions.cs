using System.ComponentModel.DataAnnotations;

namespace GruService.Api.Security;

/// <summary>
/// Per-client request rate limits, bound from "RateLimiting". A client is its API key's name when it sent a valid key,
/// else its address. The defaults let one load generator send tens of thousands of requests a second; a service
/// exposed to the public should lower them. Health probes and /metrics are never limited.
/// </summary>
public sealed class RateLimitingOptions
{
    public const string Section = "RateLimiting";

    public bool Enabled { get; set; } = true;

    /// <summary>Requests a client may make per second, sustained.</summary>
    [Range(1, 10_000_000)]
    public int PermitsPerSecond { get; set; } = 50_000;

    /// <summary>Requests a client may make at once after being idle (the token bucket's size).</summary>
    [Range(1, 10_000_000)]
    public int Burst { get; set; } = 50_000;
}

/// <summary>How long a request may take, bound from "RequestTimeouts"; 0 means no limit.</summary>
public sealed class TimeoutOptions
{
    public const string Section = "RequestTimeouts";

    /// <summary>Every endpoint but uploads: inference, reads, starting jobs.</summary>
    [Range(0, 86_400)]
    public int DefaultSeconds { get; set; } = 30;

    /// <summary>Model and dataset uploads, which stream up to Models:Limits:MaxFileBytes / Datasets:MaxUploadBytes; by default no limit
    /// (Kestrel's minimum data rate still drops an upload that stalls).</summary>
    [Range(0, 86_400)]
    public int UploadSeconds { get; set; }
}

/// <summary>The request timeout policies endpoints name.</summary>
public static class RequestTimeoutPolicies
{
    public const string Upload = "upload";
}

/// <summary>Cross-origin access for browsers, bound from "Cors": none unless origins are listed.</summary>
public sealed class CorsOriginOptions
{
    public const string Section = "Cors";

    /// <summary>Origins (scheme://host[:port]) whose pages may call the API; "*" for any.</summary>
    public string[] AllowedOrigins { get; set; } = [];
}
