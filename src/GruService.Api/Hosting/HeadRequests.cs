namespace GruService.Api.Hosting;

/// <summary>
/// Every read answers HEAD as it answers GET: load balancers and uptime checkers probe with HEAD. The handler runs
/// as for GET, so the status and headers are the same; the server drops the body (Kestrel discards what a HEAD
/// response writes, and keeps the Content-Length the handler set). The OpenAPI document lists GET alone
/// (HeadOperationsTransformer).
/// </summary>
public static class HeadRequests
{
    private static readonly string[] GetAndHead = [HttpMethods.Get, HttpMethods.Head];

    /// <summary>MapGet that also answers HEAD.</summary>
    public static RouteHandlerBuilder MapGetAndHead(this IEndpointRouteBuilder endpoints, string pattern, Delegate handler) =>
        endpoints.MapMethods(pattern, GetAndHead, handler);
}
