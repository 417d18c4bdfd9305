using System.Security.Claims;
using System.Text.Encodings.Web;
using GruService.Api.Observability;
using GruService.Api.Problems;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;

namespace GruService.Api.Security;

/// <summary>
/// The API key scheme: a key sent as <c>X-Api-Key: KEY</c> or <c>Authorization: Bearer KEY</c> authenticates as the
/// configured key's name with its scopes as claims. Challenges (401) and refusals (403) are RFC 7807 problem bodies.
/// Nothing here logs or echoes a presented or configured key.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> schemeOptions,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    ApiKeyRing keys,
    ServiceMetrics metrics)
    : AuthenticationHandler<AuthenticationSchemeOptions>(schemeOptions, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    public const string HeaderName = "X-Api-Key";
    private const string BearerPrefix = "Bearer ";

    /// <summary>The challenges a 401 carries: the Bearer form, and the header form in the same auth-param syntax.</summary>
    private static readonly string[] Challenges = ["Bearer realm=\"GruService\"", $"{SchemeName} realm=\"GruService\", header=\"{HeaderName}\""];

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? presented = PresentedKey(Request);
        if (presented is null)
            return Task.FromResult(AuthenticateResult.NoResult());
        if (keys.Find(presented) is not { } key)
            return Task.FromResult(AuthenticateResult.Fail("The presented API key is not a configured key."));

        var claims = new List<Claim> { new(ClaimTypes.Name, key.Name) };
        claims.AddRange(key.Scopes.Select(scope => new Claim(ApiKeyScopes.ClaimType, scope)));
        var principal = new ClaimsPrincipal(new ClaimsIdentity(claims, SchemeName));
        return Task.FromResult(AuthenticateResult.Success(new AuthenticationTicket(principal, SchemeName)));
    }

    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        AuthenticateResult result = await HandleAuthenticateOnceSafeAsync();
        (string reason, string detail) = keys.IsEmpty
            ? ("api_keys_not_configured",
                $"{Request.Method} {Request.Path} needs an API key, and this service has none configured. The operator configures keys as "
                + "Security:ApiKeys:{name}:Key (at least 16 characters) and Security:ApiKeys:{name}:Scopes (read, infer, manage), for example "
                + "--Security:ApiKeys:admin:Key=$(openssl rand -hex 32) --Security:ApiKeys:admin:Scopes:0=manage; see docs/security.md.")
            : result.Failure is not null
                ? ("invalid_api_key", $"The API key sent is not one of this service's keys. Send a valid key as {HeaderName}: KEY or Authorization: Bearer KEY.")
                : ("missing_api_key", $"{Request.Method} {Request.Path} needs an API key. Send it as {HeaderName}: KEY or Authorization: Bearer KEY.");
        Response.Headers.WWWAuthenticate = Challenges;
        await WriteProblemAsync(StatusCodes.Status401Unauthorized, reason, detail);
    }

    protected override async Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        string[] needed = [.. ApiKeyPolicies.RequiredBy(Context.GetEndpoint()?.Metadata ?? [])
            .SelectMany(requirement => requirement.AcceptedScopes)
            .Distinct()];
        string held = string.Join(", ", Context.User.FindAll(ApiKeyScopes.ClaimType).Select(c => c.Value));
        await WriteProblemAsync(StatusCodes.Status403Forbidden, "insufficient_scope",
            $"The API key '{Context.User.Identity?.Name}' has the scopes [{held}]; {Request.Method} {Request.Path} needs one of [{string.Join(", ", needed)}].");
    }

    /// <summary>The key in X-Api-Key, else the token of an Authorization: Bearer header; null when neither is sent.</summary>
    internal static string? PresentedKey(HttpRequest request)
    {
        string? header = request.Headers[HeaderName];
        if (!string.IsNullOrEmpty(header)) return header.Trim();
        string? authorization = request.Headers.Authorization;
        if (authorization is not null && authorization.StartsWith(BearerPrefix, StringComparison.OrdinalIgnoreCase))
        {
            string token = authorization[BearerPrefix.Length..].Trim();
            return token.Length > 0 ? token : null;
        }
        return null;
    }

    private Task WriteProblemAsync(int status, string reason, string detail)
    {
        metrics.RecordError(reason);
        Response.StatusCode = status;
        return TypedResults.Problem(ApiProblem.Create(status, reason, detail)).ExecuteAsync(Context);
    }
}
