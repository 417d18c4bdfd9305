using GruService.Api.Problems;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace GruService.Api.OpenApi;

/// <summary>
/// Adds to the ProblemDetails schema the two members every error body carries beside RFC 7807's: <c>reason</c> and
/// <c>trace_id</c>. They are extension members (ProblemDetails.Extensions), which the generator cannot see, so a
/// client generated from the document would otherwise drop them.
/// </summary>
internal sealed class ProblemExtensionsTransformer : IOpenApiSchemaTransformer
{
    public Task TransformAsync(OpenApiSchema schema, OpenApiSchemaTransformerContext context, CancellationToken cancellationToken)
    {
        if (!typeof(ProblemDetails).IsAssignableFrom(context.JsonTypeInfo.Type))
            return Task.CompletedTask;
        schema.Properties ??= new Dictionary<string, IOpenApiSchema>();
        schema.Properties[ApiProblem.ReasonKey] = new OpenApiSchema
        {
            Type = JsonSchemaType.String,
            Description = "Why the request failed, as a stable snake_case code for programs to branch on (invalid_input, unknown_model, "
                + "body_too_large, rate_limited, request_timeout, ...); also the reason label of gruservice_errors_total. "
                + "'detail' says the same for people, with the specifics.",
        };
        schema.Properties[ApiProblem.TraceIdKey] = new OpenApiSchema
        {
            Type = JsonSchemaType.String,
            Pattern = "^[0-9a-f]{32}$",
            Description = "The request's W3C trace id (32 hex digits), as in the service's log events (TraceId) and an incoming "
                + "traceparent header: quote it when reporting a problem.",
        };
        // Every problem body has a reason (ApiProblem, and the problem details service for the framework's own errors).
        schema.Required ??= new HashSet<string>();
        schema.Required.Add(ApiProblem.ReasonKey);
        return Task.CompletedTask;
    }
}
