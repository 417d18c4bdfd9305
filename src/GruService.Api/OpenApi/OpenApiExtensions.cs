using GruService.Api.Security;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace GruService.Api.OpenApi;

/// <summary>Whether Swagger UI is served. Bound from the "Swagger" section.</summary>
public sealed class SwaggerOptions
{
    public const string Section = "Swagger";

    /// <summary>Serve Swagger UI at /swagger (the OpenAPI document at /openapi/v1.json is always served).</summary>
    public bool Enabled { get; set; } = true;
}

public static class OpenApiExtensions
{
    public static IServiceCollection AddGruOpenApi(this IServiceCollection services)
    {
        services.AddOptions<SwaggerOptions>().BindConfiguration(SwaggerOptions.Section);
        services.AddOpenApi(options =>
        {
            options.AddDocumentTransformer((document, _, _) =>
            {
                document.Info = new OpenApiInfo
                {
                    Title = "GruService",
                    Version = "v1",
                    Description = "Serves GRU models (PyTorch torch.nn.GRU semantics) for time-series forecasting and sequence classification. "
                        + "Upload a model file with PUT /v1/models/{name}, then POST sequences to /v1/models/{name}/forecast or /classify. "
                        + "Errors are RFC 7807 problem bodies (application/problem+json) whose 'detail' says exactly what is wrong. "
                        + "Every GET operation also answers HEAD, with the same status and headers and no body.",
                };
                return Task.CompletedTask;
            });
            options.AddDocumentTransformer<HeadOperationsTransformer>();
            options.AddOperationTransformer<OperationDocsTransformer>();
            options.AddSchemaTransformer<OmittedPropertiesTransformer>();
            options.AddSchemaTransformer<ProblemExtensionsTransformer>();
            options.AddDocumentTransformer<ApiKeySecurityTransformer>();
            options.AddOperationTransformer<ApiKeySecurityTransformer>();
            options.AddOperationTransformer<RateLimitTransformer>();
        });
        return services;
    }

    public static WebApplication MapGruOpenApi(this WebApplication app)
    {
        // MapOpenApi maps GET only; routing reads the last method metadata, so this one makes the document answer HEAD
        // too, as every other read does (HeadRequests).
        app.MapOpenApi().RequireApiKey(ApiKeyPolicies.Docs)
            .WithMetadata(new HttpMethodMetadata([HttpMethods.Get, HttpMethods.Head]));
        if (app.Configuration.GetSection(SwaggerOptions.Section).Get<SwaggerOptions>()?.Enabled ?? true)
        {
            app.UseSwaggerUI(options =>
            {
                options.SwaggerEndpoint("/openapi/v1.json", "GruService v1");
                options.RoutePrefix = "swagger";
                options.DocumentTitle = "GruService API";
            });
        }
        return app;
    }
}
