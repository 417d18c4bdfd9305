using GruService.Api.Problems;
using GruService.Api.Security;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;

namespace GruService.Api.OpenApi;

/// <summary>
/// Lists the rate limiter's 429 problem, with its Retry-After header, on every operation it limits under the current
/// configuration (none when RateLimiting:Enabled is false; never the probes and /metrics). The limiter answers before
/// any endpoint runs, so no handler's Results union can declare it.
/// </summary>
internal sealed class RateLimitTransformer(IOptions<RateLimitingOptions> options) : IOpenApiOperationTransformer
{
    private const string RateLimited = "this client sent more requests than RateLimiting:PermitsPerSecond and Burst allow (reason rate_limited)";

    public async Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        if (!options.Value.Enabled || SecurityExtensions.IsUnlimited(new PathString("/" + context.Description.RelativePath)))
            return;
        operation.Responses ??= [];
        // An operation with a limit of its own (the training queue) keeps its declared answer and names both causes.
        if (operation.Responses.TryGetValue("429", out IOpenApiResponse? declared) && declared is OpenApiResponse own)
        {
            own.Description = $"Too Many Requests: a limit of the operation itself (the problem's reason names it), or {RateLimited}. Retry after the seconds in Retry-After.";
            own.Headers ??= new Dictionary<string, IOpenApiHeader>();
            own.Headers["Retry-After"] = RetryAfter();
            return;
        }
        IOpenApiSchema problem = await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), cancellationToken: cancellationToken);
        operation.Responses["429"] = new OpenApiResponse
        {
            Description = $"Too Many Requests: {RateLimited}. Retry after the seconds in Retry-After.",
            Headers = new Dictionary<string, IOpenApiHeader> { ["Retry-After"] = RetryAfter() },
            Content = new Dictionary<string, OpenApiMediaType> { [ApiProblem.ContentType] = new() { Schema = problem } },
        };
    }

    private static OpenApiHeader RetryAfter() => new()
    {
        Description = "Seconds to wait before retrying.",
        Schema = new OpenApiSchema { Type = JsonSchemaType.Integer },
    };
}
