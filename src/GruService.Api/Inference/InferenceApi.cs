using System.Numerics.Tensors;
using GruService.Api.Json;
using GruService.Api.Models;
using GruService.Api.Problems;
using GruService.Api.Security;
using GruService.Engine;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace GruService.Api.Inference;

public static class InferenceApi
{
    public static RouteGroupBuilder MapInferenceApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("/v1/models/{name}")
            .WithTags("Inference")
            .RequireApiKey(ApiKeyPolicies.Infer)
            .AddEndpointFilter<ErrorMetricsFilter>()
            .AddEndpointFilter<RegistryReadyFilter>()
            .AddEndpointFilter<ModelNameFilter>()
            .AddEndpointFilter<InferenceFailureFilter>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        // Bodies are read by the handlers (for exact error messages) and documented by OperationDocsTransformer.
        group.MapPost("/forecast", Forecast).WithName("Forecast");
        group.MapPost("/classify", Classify).WithName("Classify");
        return group;
    }

    /// <summary>Forecast</summary>
    /// <remarks>
    /// Runs a forecast model on one or more sequences and returns, for each, horizon future steps of output_size values,
    /// de-normalised to the target's units. Each sequence is answered exactly as if it were sent alone,
    /// bit for bit, even when concurrent requests for the same model version share one forward pass (dynamic batching).
    /// </remarks>
    /// <param name="name">A forecast model's name.</param>
    /// <param name="request">The HTTP request; its JSON body is an InferenceRequest.</param>
    /// <param name="registry">The model registry.</param>
    /// <param name="options">Request limits.</param>
    /// <param name="batcher">Gathers concurrent requests for one model version into batched forward passes.</param>
    /// <param name="cancellationToken">Aborted when the client goes away.</param>
    public static async Task<Results<JsonOk<ForecastResponse>, NotFoundProblem, BadRequestProblem, ConflictProblem, ContentTooLargeProblem, UnsupportedMediaTypeProblem>> Forecast(
        string name, HttpRequest request, ModelRegistry registry, IOptions<InferenceOptions> options, InferenceBatcher batcher, CancellationToken cancellationToken)
    {
        if (!registry.TryGet(name, out ServedModel served)) return ModelsApi.UnknownModel(name);
        if (served.Task != GruTask.Forecast) return WrongTask(served, "forecast");
        return await RunAsync<ForecastResponse>(served, request, options.Value, batcher, ForecastAnswer, cancellationToken);
    }

    /// <summary>Classify</summary>
    /// <remarks>
    /// Runs a classify model on one or more sequences and returns, for each, the most probable label and the softmax
    /// probability of every class in the model card's class order. Each sequence is answered exactly as if it were sent alone,
    /// bit for bit, even when concurrent requests for the same model version share one forward pass (dynamic batching).
    /// </remarks>
    /// <param name="name">A classify model's name.</param>
    /// <param name="request">The HTTP request; its JSON body is an InferenceRequest.</param>
    /// <param name="registry">The model registry.</param>
    /// <param name="options">Request limits.</param>
    /// <param name="batcher">Gathers concurrent requests for one model version into batched forward passes.</param>
    /// <param name="cancellationToken">Aborted when the client goes away.</param>
    public static async Task<Results<JsonOk<ClassifyResponse>, NotFoundProblem, BadRequestProblem, ConflictProblem, ContentTooLargeProblem, UnsupportedMediaTypeProblem>> Classify(
        string name, HttpRequest request, ModelRegistry registry, IOptions<InferenceOptions> options, InferenceBatcher batcher, CancellationToken cancellationToken)
    {
        if (!registry.TryGet(name, out ServedModel served)) return ModelsApi.UnknownModel(name);
        if (served.Task != GruTask.Classify) return WrongTask(served, "classify");
        return await RunAsync<ClassifyResponse>(served, request, options.Value, batcher, ClassifyAnswer, cancellationToken);
    }

    private delegate T Answer<T>(ServedModel served, ReadOnlySpan<float> outputs, int sequences);

    private static async Task<Results<JsonOk<T>, NotFoundProblem, BadRequestProblem, ConflictProblem, ContentTooLargeProblem, UnsupportedMediaTypeProblem>> RunAsync<T>(
        ServedModel served, HttpRequest request, InferenceOptions limits, InferenceBatcher batcher, Answer<T> answer, CancellationToken cancellationToken)
    {
        if (request.ContentType is { } type && !IsJson(type))
            return ApiProblem.UnsupportedMediaType(
                $"The body is sent as '{type}'; send JSON with Content-Type: application/json.");

        using RequestBody? body = await RequestBody.ReadAsync(request, limits.MaxRequestBytes, cancellationToken);
        if (body is null)
            return ApiProblem.ContentTooLarge(
                $"The body is larger than the limit of {limits.MaxRequestBytes} bytes (Inference:MaxRequestBytes); split the sequences over several requests.");

        GruModel model = served.Model;
        using var batch = new InputBatch();
        if (InferenceRequestReader.TryRead(body.Span, served.Name, model.Config.InputSize, limits, batch) is { } error)
            return ApiProblem.BadRequest("invalid_input", error);
        if (model.Config.SegmentLength > 1 && LengthNotInSegments(batch.Lengths, model.Config.SegmentLength) is int bad)
            return ApiProblem.BadRequest("invalid_input",
                $"inputs[{bad}] has {batch.Lengths[bad]} time steps; model '{served.Name}' reads segments of {model.Config.SegmentLength} steps, so each sequence's length must be a multiple of {model.Config.SegmentLength}.");
        long working = model.WorkingBytes(batch.TotalSteps, batch.SequenceCount);
        if (working > limits.MaxWorkingBytes)
            return ApiProblem.BadRequest("request_too_large",
                $"{batch.TotalSteps} time steps on model '{served.Name}' (hidden size {model.Config.HiddenSize}) need {working} bytes of working memory; the limit is {limits.MaxWorkingBytes} (Inference:MaxWorkingBytes). Send fewer or shorter sequences per request.");

        int outputs = batch.SequenceCount * model.OutputsPerSequence;
        float[] rented = RequestBuffers.Floats.Rent(outputs);
        try
        {
            // Once this returns or throws, no forward pass reads `batch` or writes `rented` any more, so both may be released.
            await batcher.RunAsync(served, batch, rented, cancellationToken);
            if (FirstNonFinite(rented.AsSpan(0, outputs)) is int at)
                return ApiProblem.BadRequest("non_finite_output",
                    $"Model '{served.Name}' version {served.Version} computed a non-finite value (NaN or infinity) for inputs[{at / model.OutputsPerSequence}]: this input overflows float32 in this model's weights. JSON cannot carry such a value; check the input's scale and the model's weights.");
            return JsonAnswers.Ok(answer(served, rented.AsSpan(0, outputs), batch.SequenceCount));
        }
        finally
        {
            RequestBuffers.Floats.Return(rented);
        }
    }

    private static ForecastResponse ForecastAnswer(ServedModel served, ReadOnlySpan<float> outputs, int sequences)
    {
        GruConfig config = served.Model.Config;
        var forecasts = new float[sequences][][];
        for (int s = 0, i = 0; s < sequences; s++)
        {
            forecasts[s] = new float[config.Horizon][];
            for (int h = 0; h < config.Horizon; h++, i += config.OutputSize)
                forecasts[s][h] = outputs.Slice(i, config.OutputSize).ToArray();
        }
        return new ForecastResponse(served.Name, served.Version, forecasts);
    }

    private static ClassifyResponse ClassifyAnswer(ServedModel served, ReadOnlySpan<float> outputs, int sequences)
    {
        IReadOnlyList<string> classes = served.Model.Config.Classes;
        var predictions = new ClassPrediction[sequences];
        for (int s = 0; s < sequences; s++)
        {
            ReadOnlySpan<float> probabilities = outputs.Slice(s * classes.Count, classes.Count);
            int best = TensorPrimitives.IndexOfMax(probabilities);
            predictions[s] = new ClassPrediction(classes[best], best, probabilities.ToArray());
        }
        return new ClassifyResponse(served.Name, served.Version, predictions);
    }

    private static int? FirstNonFinite(ReadOnlySpan<float> values)
    {
        for (int i = 0; i < values.Length; i++)
            if (!float.IsFinite(values[i])) return i;
        return null;
    }

    private static int? LengthNotInSegments(ReadOnlySpan<int> lengths, int segment)
    {
        for (int i = 0; i < lengths.Length; i++)
            if (lengths[i] % segment != 0) return i;
        return null;
    }

    private static ConflictProblem WrongTask(ServedModel served, string endpoint) =>
        ApiProblem.Conflict("wrong_task",
            $"Model '{served.Name}' is a {served.TaskName} model and cannot {endpoint}; POST /v1/models/{served.Name}/{served.TaskName} instead.");

    private static bool IsJson(string contentType)
    {
        ReadOnlySpan<char> mediaType = contentType.AsSpan();
        if (mediaType.IndexOf(';') is var parameters and >= 0) mediaType = mediaType[..parameters];
        mediaType = mediaType.Trim();
        return mediaType.Equals("application/json", StringComparison.OrdinalIgnoreCase)
            || mediaType.EndsWith("+json", StringComparison.OrdinalIgnoreCase);
    }
}
