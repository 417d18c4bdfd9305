namespace GruService.Api.Security;

/// <summary>
/// Headers on every response that stop browsers from sniffing types, framing the service or leaking URLs in Referer,
/// and from caching API answers. Set when the response starts, so they survive an exception handler clearing the response.
/// </summary>
internal sealed class SecurityHeadersMiddleware(RequestDelegate next)
{
    /// <summary>API answers are data, never documents: nothing may load or run from them.</summary>
    internal const string ApiContentSecurityPolicy = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

    /// <summary>
    /// Swagger UI loads its own scripts, styles and the OpenAPI document from this origin, sets inline styles, and
    /// draws icons from data: URIs; it has no inline scripts, so scripts stay limited to 'self'.
    /// </summary>
    internal const string SwaggerContentSecurityPolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; "
        + "object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

    private static readonly Func<object, Task> AddHeaders = state =>
    {
        var context = (HttpContext)state;
        IHeaderDictionary headers = context.Response.Headers;
        bool swagger = context.Request.Path.StartsWithSegments("/swagger");
        headers.XContentTypeOptions = "nosniff";
        headers.XFrameOptions = "DENY";
        headers["Referrer-Policy"] = "no-referrer";
        headers.ContentSecurityPolicy = swagger ? SwaggerContentSecurityPolicy : ApiContentSecurityPolicy;
        // Answers change with every upload and job; Swagger UI's static files may be cached.
        if (!swagger && !headers.ContainsKey("Cache-Control"))
            headers.CacheControl = "no-store";
        return Task.CompletedTask;
    };

    public Task InvokeAsync(HttpContext context)
    {
        context.Response.OnStarting(AddHeaders, context);
        return next(context);
    }
}
