using System.Diagnostics;
using Microsoft.AspNetCore.Mvc;

namespace GruService.Api.Problems;

/// <summary>
/// RFC 7807 problem bodies for every error the API answers. Each carries a machine-readable <c>reason</c>
/// (also the label of the errors metric) and the request's trace id, and a detail that says exactly what is wrong.
/// </summary>
public static class ApiProblem
{
    public const string ReasonKey = "reason";
    public const string TraceIdKey = "trace_id";
    public const string ContentType = "application/problem+json";

    public static ProblemDetails Create(int status, string reason, string detail, string? title = null)
    {
        var problem = new ProblemDetails
        {
            Type = DefaultType(status),
            Status = status,
            Title = title ?? DefaultTitle(status),
            Detail = detail,
        };
        problem.Extensions[ReasonKey] = reason;
        if (Activity.Current is { } activity)
            problem.Extensions[TraceIdKey] = activity.TraceId.ToString();
        return problem;
    }

    public static NotFoundProblem NotFound(string reason, string detail) => new(Create(StatusCodes.Status404NotFound, reason, detail));

    public static BadRequestProblem BadRequest(string reason, string detail) => new(Create(StatusCodes.Status400BadRequest, reason, detail));

    public static ConflictProblem Conflict(string reason, string detail) => new(Create(StatusCodes.Status409Conflict, reason, detail));

    public static ContentTooLargeProblem ContentTooLarge(string detail) => new(Create(StatusCodes.Status413PayloadTooLarge, "body_too_large", detail));

    public static UnsupportedMediaTypeProblem UnsupportedMediaType(string detail) => new(Create(StatusCodes.Status415UnsupportedMediaType, "unsupported_media_type", detail));

    public static TooManyRequestsProblem TooManyRequests(string reason, string detail) => new(Create(StatusCodes.Status429TooManyRequests, reason, detail));

    public static ServiceUnavailableProblem ServiceUnavailable(string reason, string detail) => new(Create(StatusCodes.Status503ServiceUnavailable, reason, detail));

    /// <summary>507 when the storage is full, 503 when it cannot be written for another reason.</summary>
    public static StorageProblem Storage(bool full, string detail) =>
        new(Create(full ? StatusCodes.Status507InsufficientStorage : StatusCodes.Status503ServiceUnavailable, full ? "storage_full" : "storage_unavailable", detail));

    /// <summary>
    /// The type of the statuses we answer that ASP.NET Core's problem defaults have none for (they cover RFC 9110's):
    /// without it those bodies alone would have no <c>type</c>. Null leaves the framework's.
    /// </summary>
    public static string? DefaultType(int status) => status switch
    {
        429 => "https://tools.ietf.org/html/rfc6585#section-4",
        507 => "https://tools.ietf.org/html/rfc4918#section-11.5",
        _ => null,
    };

    private static string DefaultTitle(int status) => status switch
    {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        503 => "Service Unavailable",
        507 => "Insufficient Storage",
        _ => status >= 500 ? "Server Error" : "Request Error",
    };
}
