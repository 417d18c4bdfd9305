using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;

namespace GruService.Fuzz;

/// <summary>What the service answered.</summary>
public sealed record HttpAnswer(int Status, string? MediaType, byte[] Body)
{
    public string Text => Encoding.UTF8.GetString(Body);
    public bool IsSuccess => Status is >= 200 and < 300;
}

/// <summary>
/// Sends requests to the service and checks the contract every answer must keep: 2xx, or 4xx with an RFC 7807
/// problem body whose status matches; never 5xx, never a dropped connection, never slower than the hang bound.
/// </summary>
public sealed class ServiceProbe(HttpClient client, FuzzStats stats, FailureLog failures, IterationStage stage)
{
    public HttpClient Client => client;

    /// <summary>
    /// Sends the request; records any broken promise against <paramref name="iteration"/> with <paramref name="input"/>
    /// as its reproducer. Null when no answer came at all.
    /// </summary>
    /// <param name="explainServerError">Says why a 5xx happened when the fuzzer can tell (a non-finite model output).</param>
    public async Task<HttpAnswer?> SendAsync(int iteration, HttpRequestMessage request, byte[]? input, string context, Func<string?>? explainServerError = null)
    {
        string what = $"{request.Method} {request.RequestUri} (Content-Type: {request.Content?.Headers.ContentType?.ToString() ?? "none"}"
            + $"{(request.Headers.TransferEncodingChunked == true ? ", chunked" : "")})\n{context}";
        HttpAnswer answer;
        stage.Set($"waiting for the answer to {what}", input);
        try
        {
            using HttpResponseMessage response = await client.SendAsync(request);
            byte[] body = await response.Content.ReadAsByteArrayAsync();
            answer = new HttpAnswer((int)response.StatusCode, response.Content.Headers.ContentType?.MediaType, body);
        }
        catch (TaskCanceledException)
        {
            stats.CountUnansweredRequest();
            failures.Record(FailureKind.Hang, iteration, $"No answer within {client.Timeout.TotalSeconds} s to {what}", input);
            return null;
        }
        catch (HttpRequestException e)
        {
            stats.CountUnansweredRequest();
            failures.Record(FailureKind.Crash, iteration, $"The connection failed without an answer ({e.Message}; {e.InnerException?.Message}) to {what}", input);
            return null;
        }
        stats.CountResponse(answer.Status);
        if (Violation(answer) is { } problem)
        {
            string? cause = answer.Status >= 500 ? Explain(explainServerError) : null;
            FailureKind kind = answer.Status < 500 ? FailureKind.ContractViolation : cause is null ? FailureKind.ServerError : FailureKind.NonFiniteOutputServerError;
            failures.Record(kind, iteration, $"{problem}{(cause is null ? "" : " " + cause)}\nrequest: {what}\nresponse: {answer.Status} {answer.MediaType}\n{Truncate(answer.Text)}", input);
        }
        return answer;
    }

    /// <summary>The explanation of a server error; none when working it out fails too (the 5xx then stands unexplained).</summary>
    private static string? Explain(Func<string?>? explainServerError)
    {
        try
        {
            return explainServerError?.Invoke();
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            return null;
        }
    }

    /// <summary>What is wrong with an answer under the contract, or null.</summary>
    public static string? Violation(HttpAnswer answer)
    {
        if (answer.Status >= 500) return $"A server error ({answer.Status}).";
        if (answer.IsSuccess) return null;
        if (answer.Status is < 400 or >= 500) return $"Status {answer.Status} is neither 2xx nor 4xx.";
        if (answer.MediaType != "application/problem+json") return $"A {answer.Status} answer is '{answer.MediaType}', not application/problem+json.";
        try
        {
            using JsonDocument problem = JsonDocument.Parse(answer.Body);
            if (problem.RootElement.ValueKind != JsonValueKind.Object) return "The problem body is not a JSON object.";
            if (!problem.RootElement.TryGetProperty("status", out JsonElement status) || status.ValueKind != JsonValueKind.Number || status.GetInt32() != answer.Status)
                return $"The problem body's status is not {answer.Status}.";
            if (!problem.RootElement.TryGetProperty("title", out JsonElement title) || title.ValueKind != JsonValueKind.String)
                return "The problem body has no title.";
        }
        catch (JsonException e)
        {
            return $"The problem body is not JSON: {e.Message}";
        }
        return null;
    }

    /// <summary>A request with this body, content type and framing (Content-Length, or chunked when asked).</summary>
    public static HttpRequestMessage Request(HttpMethod method, string path, byte[]? body, string? contentType, bool chunked = false)
    {
        var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            var content = new ByteArrayContent(body);
            if (contentType is not null) content.Headers.TryAddWithoutValidation("Content-Type", contentType);
            request.Content = content;
            if (chunked) request.Headers.TransferEncodingChunked = true;
        }
        return request;
    }

    public static HttpRequestMessage Json(HttpMethod method, string path, string json) =>
        Request(method, path, Encoding.UTF8.GetBytes(json), "application/json");

    public static HttpRequestMessage OctetStream(string path, byte[] body)
    {
        HttpRequestMessage request = Request(HttpMethod.Put, path, body, null);
        request.Content!.Headers.ContentType = new MediaTypeHeaderValue("application/octet-stream");
        return request;
    }

    public static string Truncate(string text, int max = 4000) => text.Length <= max ? text : text[..max] + $"... ({text.Length} characters)";
}
