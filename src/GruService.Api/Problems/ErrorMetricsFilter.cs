using GruService.Api.Observability;
using Microsoft.AspNetCore.Mvc;

namespace GruService.Api.Problems;

/// <summary>Counts every problem a handler (or an inner filter) answers with, by its reason.</summary>
internal sealed class ErrorMetricsFilter(ServiceMetrics metrics) : IEndpointFilter
{
    public async ValueTask<object?> InvokeAsync(EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        object? result = await next(context);
        // Handlers return Results<...> unions, which wrap the result actually sent.
        object? sent = result is INestedHttpResult nested ? nested.Result : result;
        if (sent is IValueHttpResult { Value: ProblemDetails problem })
            metrics.RecordError(problem.Extensions.TryGetValue(ApiProblem.ReasonKey, out object? reason) ? reason as string ?? "unknown" : "unknown");
        return result;
    }
}
