using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace GruService.Api.OpenApi;

/// <summary>
/// Drops the HEAD twin of every GET operation (HeadRequests.MapGetAndHead): it would repeat the GET operation, its
/// operationId included, which OpenAPI requires to be unique. The document's description says HEAD is answered.
/// </summary>
internal sealed class HeadOperationsTransformer : IOpenApiDocumentTransformer
{
    public Task TransformAsync(OpenApiDocument document, OpenApiDocumentTransformerContext context, CancellationToken cancellationToken)
    {
        foreach (IOpenApiPathItem path in document.Paths.Values)
            if (path is OpenApiPathItem { Operations: { } operations } && operations.ContainsKey(HttpMethod.Get))
                operations.Remove(HttpMethod.Head);
        return Task.CompletedTask;
    }
}
