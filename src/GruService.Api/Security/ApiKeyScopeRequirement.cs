using Microsoft.AspNetCore.Authorization;

namespace GruService.Api.Security;

/// <summary>
/// Met by a key holding any of <paramref name="AcceptedScopes"/>. Endpoints carry it only while the configuration
/// switch <paramref name="IsRequired"/> reads is on (<see cref="SecurityExtensions.RequireApiKey"/>).
/// </summary>
/// <param name="AcceptedScopes">The scopes that satisfy the requirement.</param>
/// <param name="IsRequired">Whether the current configuration requires a key.</param>
/// <param name="Switch">The configuration key of that switch, named in error details.</param>
internal sealed record ApiKeyScopeRequirement(IReadOnlyList<string> AcceptedScopes, Func<SecurityOptions, bool> IsRequired, string Switch)
    : IAuthorizationRequirement;

internal sealed class ApiKeyScopeHandler : AuthorizationHandler<ApiKeyScopeRequirement>
{
    protected override Task HandleRequirementAsync(AuthorizationHandlerContext context, ApiKeyScopeRequirement requirement)
    {
        if (requirement.AcceptedScopes.Any(scope => context.User.HasClaim(ApiKeyScopes.ClaimType, scope)))
            context.Succeed(requirement);
        return Task.CompletedTask;
    }
}
