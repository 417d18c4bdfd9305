using System.Buffers;
using System.IO.Pipelines;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http.Metadata;
using Microsoft.Extensions.Options;
using JsonOptions = Microsoft.AspNetCore.Http.Json.JsonOptions;

namespace GruService.Api.Json;

/// <summary>
/// 200 with <typeparamref name="T"/> as JSON, as <c>TypedResults.Ok</c> sends it (the service's JSON options,
/// <c>application/json; charset=utf-8</c>, documented the same way in OpenAPI), but serialised synchronously into a
/// per-thread buffer first and sent with a Content-Length: one copy into the response, no chunked framing, and none of
/// the asynchronous serialiser's state allocated per answer. For the inference answers, small and sent thousands of
/// times a second.
/// </summary>
public sealed class JsonOk<T> : IResult, IStatusCodeHttpResult, IValueHttpResult, IValueHttpResult<T>, IEndpointMetadataProvider
{
    internal JsonOk(T value) => Value = value;

    public T Value { get; }

    object? IValueHttpResult.Value => Value;

    public int StatusCode => StatusCodes.Status200OK;

    int? IStatusCodeHttpResult.StatusCode => StatusCode;

    public Task ExecuteAsync(HttpContext httpContext)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        JsonSerializerOptions options = httpContext.RequestServices.GetRequiredService<IOptions<JsonOptions>>().Value.SerializerOptions;
        var typeInfo = (JsonTypeInfo<T>)options.GetTypeInfo(typeof(T));

        AnswerBuffer buffer = AnswerBuffer.Rent();
        HttpResponse response = httpContext.Response;
        try
        {
            JsonSerializer.Serialize(buffer.Json, Value, typeInfo);
            response.StatusCode = StatusCode;
            response.ContentType = "application/json; charset=utf-8";
            response.ContentLength = buffer.Bytes.WrittenCount;
            // Copied into the response's pipe here, so the buffer is free again before any await.
            response.BodyWriter.Write(buffer.Bytes.WrittenSpan);
        }
        finally
        {
            AnswerBuffer.Return(buffer);
        }
        ValueTask<FlushResult> flush = response.BodyWriter.FlushAsync(httpContext.RequestAborted);
        return flush.IsCompletedSuccessfully ? Task.CompletedTask : flush.AsTask();
    }

    public static void PopulateMetadata(MethodInfo method, EndpointBuilder builder)
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Metadata.Add(new ProducesResponseTypeMetadata(StatusCodes.Status200OK, typeof(T), ["application/json"]));
    }
}

/// <summary>Answers with <see cref="JsonOk{T}"/>.</summary>
public static class JsonAnswers
{
    public static JsonOk<T> Ok<T>(T value) => new(value);
}

/// <summary>One thread's serialisation buffer and writer, reused answer after answer.</summary>
internal sealed class AnswerBuffer
{
    // A buffer grown past this by a large answer is dropped rather than kept by the thread.
    private const int KeptBytes = 1 << 20;

    [ThreadStatic]
    private static AnswerBuffer? t_buffer;

    private AnswerBuffer()
    {
        Bytes = new ArrayBufferWriter<byte>(4096);
        Json = new Utf8JsonWriter(Bytes);
    }

    public ArrayBufferWriter<byte> Bytes { get; }

    public Utf8JsonWriter Json { get; }

    public static AnswerBuffer Rent()
    {
        AnswerBuffer buffer = t_buffer ?? new AnswerBuffer();
        t_buffer = null;
        buffer.Bytes.ResetWrittenCount();
        buffer.Json.Reset(buffer.Bytes);
        return buffer;
    }

    public static void Return(AnswerBuffer buffer)
    {
        if (buffer.Bytes.Capacity <= KeptBytes) t_buffer = buffer;
    }
}
