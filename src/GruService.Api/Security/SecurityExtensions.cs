using System.Globalization;
using System.Threading.RateLimiting;
using GruService.Api.Observability;
using GruService.Api.Problems;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Cors.Infrastructure;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.AspNetCore.RateLimiting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.Options;

namespace GruService.Api.Security;

/// <summary>
/// API keys and scopes, per-client rate limits, request timeouts, CORS and security headers. See docs/security.md.
/// </summary>
public static class SecurityExtensions
{
    public static IServiceCollection AddGruSecurity(this IServiceCollection services)
    {
        services.AddOptions<SecurityOptions>().BindConfiguration(SecurityOptions.Section).ValidateOnStart();
        services.AddSingleton<IValidateOptions<SecurityOptions>, SecurityOptionsValidator>();
        services.AddSingleton<ApiKeyRing>();
        services.AddHostedService<SecurityStartupLog>();

        services.AddAuthentication(ApiKeyAuthenticationHandler.SchemeName)
            .AddScheme<AuthenticationSchemeOptions, ApiKeyAuthenticationHandler>(ApiKeyAuthenticationHandler.SchemeName, null);
        services.AddAuthorization(options =>
        {
            foreach (var (name, requirement) in ApiKeyPolicies.Requirements)
                options.AddPolicy(name, policy => policy.AddRequirements(requirement));
        });
        services.AddSingleton<Microsoft.AspNetCore.Authorization.IAuthorizationHandler, ApiKeyScopeHandler>();

        services.AddRateLimiting();
        services.AddTimeouts();
        // No "Server: Kestrel" header: it tells an attacker what to look up and a client nothing it needs.
        services.Configure<KestrelServerOptions>(kestrel => kestrel.AddServerHeader = false);
        services.AddOptions<CorsOriginOptions>().BindConfiguration(CorsOriginOptions.Section);
        services.AddCors();
        services.AddOptions<CorsOptions>().Configure<IOptions<CorsOriginOptions>>((cors, origins) =>
        {
            if (origins.Value.AllowedOrigins.Length == 0) return;
            cors.AddDefaultPolicy(policy =>
            {
                if (origins.Value.AllowedOrigins.Contains("*")) policy.AllowAnyOrigin();
                else policy.WithOrigins(origins.Value.AllowedOrigins);
                policy.AllowAnyHeader().AllowAnyMethod().WithExposedHeaders("Location", "Retry-After", "WWW-Authenticate");
            });
        });
        return services;
    }

    /// <summary>
    /// Requires a key with one of <paramref name="policy"/>'s scopes on these endpoints when the configuration needs a key
    /// for them (its Security:RequireKeyFor* switch, read when the endpoints are built), and adds nothing when it does
    /// not. An endpoint open to anonymous requests then carries no authorization metadata, and the authorization
    /// middleware passes its requests straight on instead of evaluating, for every request, a policy that always
    /// succeeds. Either way the answers are the same: a key that is sent but unknown is refused only where a key is needed.
    /// </summary>
    public static TBuilder RequireApiKey<TBuilder>(this TBuilder builder, string policy) where TBuilder : IEndpointConventionBuilder
    {
        ApiKeyScopeRequirement requirement = ApiKeyPolicies.Requirements[policy];
        var authorize = new AuthorizeAttribute(policy);
        builder.Add(endpoint =>
        {
            if (requirement.IsRequired(endpoint.ApplicationServices.GetRequiredService<IOptions<SecurityOptions>>().Value))
                endpoint.Metadata.Add(authorize);
        });
        return builder;
    }

    /// <summary>
    /// Security headers, CORS (when origins are configured), authentication, rate limiting, timeouts, authorization,
    /// in that order: a rejected or timed-out request still gets the headers, and rate limits see the key's name.
    /// </summary>
    public static WebApplication UseGruSecurity(this WebApplication app)
    {
        app.UseMiddleware<SecurityHeadersMiddleware>();
        if (app.Services.GetRequiredService<IOptions<CorsOriginOptions>>().Value.AllowedOrigins.Length > 0)
            app.UseCors();
        app.UseAuthentication();
        app.UseRateLimiter();
        app.UseRequestTimeouts();
        app.UseAuthorization();
        return app;
    }

    private static void AddRateLimiting(this IServiceCollection services)
    {
        services.AddOptions<RateLimitingOptions>().BindConfiguration(RateLimitingOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddRateLimiter(_ => { });
        services.AddOptions<RateLimiterOptions>().Configure<IOptions<RateLimitingOptions>>((limiter, configured) =>
        {
            RateLimitingOptions settings = configured.Value;
            limiter.RejectionStatusCode = StatusCodes.Status429TooManyRequests;
            limiter.OnRejected = (rejected, _) => WriteRateLimitedAsync(rejected, settings);
            if (!settings.Enabled) return;
            TokenBucketRateLimiterOptions bucket = TokenBucket(settings);
            limiter.GlobalLimiter = PartitionedRateLimiter.Create<HttpContext, string>(context =>
                IsUnlimited(context.Request.Path)
                    ? RateLimitPartition.GetNoLimiter("")
                    : RateLimitPartition.GetTokenBucketLimiter(ClientOf(context), _ => bucket));
        });
    }

    /// <summary>Probes and metrics must answer whatever a client does, or a busy service would look dead.</summary>
    internal static bool IsUnlimited(PathString path) =>
        path.StartsWithSegments("/healthz") || path.StartsWithSegments("/readyz") || path.StartsWithSegments("/metrics");

    /// <summary>The API key's name for a client that sent a valid key, else its address.</summary>
    private static string ClientOf(HttpContext context) =>
        context.User.Identity is { IsAuthenticated: true, Name: { } name }
            ? $"key {name}"
            : $"address {context.Connection.RemoteIpAddress?.ToString() ?? "unknown"}";

    /// <summary>
    /// Refilled every 100 ms (the partitioned limiter's timer tick) in tenths of the rate, or one permit at a time
    /// for rates under ten a second.
    /// </summary>
    private static TokenBucketRateLimiterOptions TokenBucket(RateLimitingOptions settings)
    {
        bool slow = settings.PermitsPerSecond < 10;
        return new TokenBucketRateLimiterOptions
        {
            TokenLimit = settings.Burst,
            TokensPerPeriod = slow ? 1 : (settings.PermitsPerSecond + 9) / 10,
            ReplenishmentPeriod = slow ? TimeSpan.FromSeconds(1.0 / settings.PermitsPerSecond) : TimeSpan.FromMilliseconds(100),
            QueueLimit = 0,
            AutoReplenishment = true,
        };
    }

    private static async ValueTask WriteRateLimitedAsync(OnRejectedContext rejected, RateLimitingOptions settings)
    {
        HttpContext context = rejected.HttpContext;
        int seconds = rejected.Lease.TryGetMetadata(MetadataName.RetryAfter, out TimeSpan retryAfter)
            ? Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds))
            : 1;
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        context.RequestServices.GetRequiredService<ServiceMetrics>().RecordError("rate_limited");
        await TypedResults.Problem(ApiProblem.Create(StatusCodes.Status429TooManyRequests, "rate_limited",
            $"This client ({ClientOf(context)}) sent more than {settings.PermitsPerSecond} requests a second (RateLimiting:PermitsPerSecond, "
            + $"bursts of {settings.Burst}, RateLimiting:Burst); retry after {seconds} s.")).ExecuteAsync(context);
    }

    private static void AddTimeouts(this IServiceCollection services)
    {
        services.AddOptions<TimeoutOptions>().BindConfiguration(TimeoutOptions.Section).ValidateDataAnnotations().ValidateOnStart();
        services.AddRequestTimeouts();
        services.AddOptions<RequestTimeoutOptions>().Configure<IOptions<TimeoutOptions>>((timeouts, configured) =>
        {
            timeouts.DefaultPolicy = TimeoutPolicy(configured.Value.DefaultSeconds, $"{TimeoutOptions.Section}:DefaultSeconds");
            timeouts.AddPolicy(RequestTimeoutPolicies.Upload, TimeoutPolicy(configured.Value.UploadSeconds, $"{TimeoutOptions.Section}:UploadSeconds"));
        });
    }

    /// <summary>
    /// 504 with a problem body: the service gave up on the request, which may succeed when retried on a less busy
    /// service or with less work; 503 stays reserved for "not ready".
    /// </summary>
    private static RequestTimeoutPolicy TimeoutPolicy(int seconds, string setting) => new()
    {
        Timeout = seconds > 0 ? TimeSpan.FromSeconds(seconds) : null,
        TimeoutStatusCode = StatusCodes.Status504GatewayTimeout,
        WriteTimeoutResponse = context =>
        {
            context.RequestServices.GetRequiredService<ServiceMetrics>().RecordError("request_timeout");
            return TypedResults.Problem(ApiProblem.Create(StatusCodes.Status504GatewayTimeout, "request_timeout",
                $"The request took longer than the {seconds} s this endpoint allows ({setting}) and was stopped; nothing it would have changed was changed. "
                + "Send less work per request, or retry later.", "Gateway Timeout")).ExecuteAsync(context);
        },
    };
}

/// <summary>Says at start which keys exist (names and scopes, never values) and warns when writes cannot be made.</summary>
internal sealed partial class SecurityStartupLog(IOptions<SecurityOptions> options, ILogger<SecurityStartupLog> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        SecurityOptions security = options.Value;
        foreach (var (name, key) in security.ApiKeys)
            LogKey(name, string.Join(", ", key.Scopes));
        if (security.ApiKeys.Count == 0 && security.RequireKeyForManage)
            LogNoKeys();
        if (!security.RequireKeyForManage)
            LogManageOpen();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(LogLevel.Information, "API key {KeyName} accepted with scopes {Scopes}")]
    private partial void LogKey(string keyName, string scopes);

    [LoggerMessage(LogLevel.Warning, "No API keys are configured: uploads, activations, deletions and training jobs answer 401 until one with scope manage is (Security:ApiKeys:{{name}}:Key and :Scopes, see docs/security.md)")]
    private partial void LogNoKeys();

    [LoggerMessage(LogLevel.Warning, "Security:RequireKeyForManage is false: anyone who can reach the service may upload, delete and train models")]
    private partial void LogManageOpen();
}
