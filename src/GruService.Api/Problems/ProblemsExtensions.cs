using System.Diagnostics;
using GruService.Api.Models;
using GruService.Api.Observability;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace GruService.Api.Problems;

public static class ProblemsExtensions
{
    public static IServiceCollection AddGruProblemDetails(this IServiceCollection services)
    {
        services.AddProblemDetails(options => options.CustomizeProblemDetails = context =>
        {
            ProblemDetails problem = context.ProblemDetails;
            // Framework-made problems (404 for unknown routes, 405, Kestrel's 413) get the same shape as ours.
            if (!problem.Extensions.ContainsKey(ApiProblem.ReasonKey))
            {
                string reason = ReasonFor(context.HttpContext, problem.Status ?? context.HttpContext.Response.StatusCode);
                problem.Extensions[ApiProblem.ReasonKey] = reason;
                problem.Detail ??= DetailFor(context.HttpContext, reason);
                context.HttpContext.RequestServices.GetService<ServiceMetrics>()?.RecordError(reason);
            }
            // The exception handler's 507 (a full disk) is not built by ApiProblem, and the framework has no type for it.
            problem.Type ??= ApiProblem.DefaultType(problem.Status ?? context.HttpContext.Response.StatusCode);
            // The W3C trace id alone (ASP.NET's own traceId is the whole traceparent), matching the log events' TraceId.
            if (Activity.Current is { } activity)
                problem.Extensions[ApiProblem.TraceIdKey] = activity.TraceId.ToString();
            problem.Extensions.Remove("traceId");
            problem.Extensions.Remove("requestId");
        });
        return services;
    }

    /// <summary>
    /// Unhandled exceptions and bare status codes become problem bodies. A request the server cannot read
    /// (BadHttpRequestException: body too large, truncated, bad headers) is the client's error, not a 500.
    /// </summary>
    public static WebApplication UseGruProblemDetails(this WebApplication app)
    {
        app.UseExceptionHandler(new ExceptionHandlerOptions
        {
            StatusCodeSelector = exception => exception switch
            {
                BadHttpRequestException bad => bad.StatusCode,
                StorageUnavailableException { Full: true } => StatusCodes.Status507InsufficientStorage,
                StorageUnavailableException => StatusCodes.Status503ServiceUnavailable,
                OperationCanceledException => StatusCodes.Status499ClientClosedRequest,
                _ => StatusCodes.Status500InternalServerError,
            },
            // A request the client got wrong is not a server error: no "unhandled exception" log or error.type tag.
            SuppressDiagnosticsCallback = context => context.Exception is BadHttpRequestException or OperationCanceledException,
        });
        app.UseStatusCodePages();
        return app;
    }

    private static string? DetailFor(HttpContext context, string reason)
    {
        HttpRequest request = context.Request;
        return reason switch
        {
            "not_found" => $"No endpoint answers {request.Method} {request.Path}; /openapi/v1.json and /swagger list the API.",
            "method_not_allowed" => $"{request.Path} does not take {request.Method}; /openapi/v1.json lists the methods each path takes.",
            "body_too_large" => "The request body is larger than this endpoint accepts.",
            "internal_error" => "The server failed to answer this request; the trace id identifies it in the logs.",
            "storage_unavailable" or "storage_full" => $"{context.Features.Get<IExceptionHandlerFeature>()?.Error.Message} Retry later.",
            _ => context.Features.Get<IExceptionHandlerFeature>()?.Error is BadHttpRequestException bad
                ? bad.InnerException is System.Text.Json.JsonException json ? $"{bad.Message} {json.Message}" : bad.Message
                : null,
        };
    }

    private static string ReasonFor(HttpContext context, int status)
    {
        switch (context.Features.Get<IExceptionHandlerFeature>()?.Error)
        {
            case BadHttpRequestException:
                return status == StatusCodes.Status413PayloadTooLarge ? "body_too_large" : "bad_request";
            case StorageUnavailableException unavailable:
                // Any endpoint that reads or writes the shared database answers its outage alike.
                return unavailable.Full ? "storage_full" : "storage_unavailable";
        }
        return status switch
        {
            404 => "not_found",
            405 => "method_not_allowed",
            413 => "body_too_large",
            415 => "unsupported_media_type",
            >= 500 => "internal_error",
            _ => "bad_request",
        };
    }
}
