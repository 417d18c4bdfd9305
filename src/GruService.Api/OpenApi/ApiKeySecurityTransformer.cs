using GruService.Api.Problems;
using GruService.Api.Security;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace GruService.Api.OpenApi;

/// <summary>
/// Declares the API key scheme (X-Api-Key header, or Authorization: Bearer) and, on each operation that needs a key
/// under the current configuration, the requirement and its 401 and 403 problem answers, so Swagger UI's Authorize
/// button sends the key where it is needed.
/// </summary>
internal sealed class ApiKeySecurityTransformer : IOpenApiDocumentTransformer, IOpenApiOperationTransformer
{
    private const string HeaderScheme = "ApiKeyHeader";
    private const string BearerScheme = "ApiKeyBearer";

    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        document.Components ??= new OpenApiComponents();
        document.Components.SecuritySchemes ??= new Dictionary<string, IOpenApiSecurityScheme>();
        document.Components.SecuritySchemes[HeaderScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.ApiKey,
            In = ParameterLocation.Header,
            Name = ApiKeyAuthenticationHandler.HeaderName,
            Description = "An API key from Security:ApiKeys, with the scope the operation needs (read, infer or manage).",
        };
        document.Components.SecuritySchemes[BearerScheme] = new OpenApiSecurityScheme
        {
            Type = SecuritySchemeType.Http,
            Scheme = "bearer",
            Description = "The same API key sent as Authorization: Bearer KEY.",
        };
        return Task.CompletedTask;
    }

    public async Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        ApiKeyScopeRequirement[] required = [.. ApiKeyPolicies.RequiredBy(context.Description.ActionDescriptor.EndpointMetadata)];
        if (required.Length == 0) return;

        // Either scheme satisfies the operation: two alternative requirements.
        operation.Security ??= [];
        foreach (string scheme in new[] { HeaderScheme, BearerScheme })
            operation.Security.Add(new OpenApiSecurityRequirement { [new OpenApiSecuritySchemeReference(scheme, context.Document)] = [] });

        string scopes = string.Join(" or ", required.SelectMany(r => r.AcceptedScopes).Distinct());
        IOpenApiSchema problem = await context.GetOrCreateSchemaAsync(typeof(ProblemDetails), cancellationToken: cancellationToken);
        operation.Responses ??= [];
        operation.Responses["401"] = Problem($"No API key, or one that is not configured (reason missing_api_key, invalid_api_key or api_keys_not_configured).", problem);
        operation.Responses["403"] = Problem($"The API key lacks the scope this operation needs: {scopes} (reason insufficient_scope).", problem);
    }

    private static OpenApiResponse Problem(string description, IOpenApiSchema schema) => new()
    {
        Description = description,
        Content = new Dictionary<string, OpenApiMediaType> { [ApiProblem.ContentType] = new() { Schema = schema } },
    };
}
