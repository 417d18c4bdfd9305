using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using GruService.Api.Datasets;
using GruService.Api.Hosting;
using GruService.Api.Json;
using GruService.Api.Models;
using GruService.Api.Problems;
using GruService.Api.Security;
using GruService.Engine.ModelFiles;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Json;
using Microsoft.Extensions.Options;

namespace GruService.Api.Training;

public static class TrainingJobsApi
{
    /// <summary>Jobs per page of the job list when ?limit= is left out.</summary>
    public const int DefaultPageSize = 50;

    /// <summary>The most jobs ?limit= may ask for in one page: the list holds whole records (inline data described), a page's worth in memory.</summary>
    public const int MaxPageSize = 500;

    public static RouteGroupBuilder MapTrainingJobsApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("/v1/training-jobs")
            .WithTags("Training")
            .AddEndpointFilter<ErrorMetricsFilter>();

        // The body is read by the handler (for errors in the API's words) and documented by OperationDocsTransformer.
        group.MapPost("/", StartJob).WithName("StartTrainingJob").RequireApiKey(ApiKeyPolicies.Manage).ProducesStorageProblems();
        group.MapGetAndHead("/", ListJobs).WithName("ListTrainingJobs").RequireApiKey(ApiKeyPolicies.Read);
        group.MapGetAndHead("/{id}", GetJob).WithName("GetTrainingJob").RequireApiKey(ApiKeyPolicies.Read);
        group.MapPost("/{id}/cancel", CancelJob).WithName("CancelTrainingJob").RequireApiKey(ApiKeyPolicies.Manage).ProducesStorageProblems();
        group.MapDelete("/{id}", DeleteJob).WithName("DeleteTrainingJob").RequireApiKey(ApiKeyPolicies.Manage).ProducesStorageProblems();
        return group;
    }

    /// <summary>Start a training job</summary>
    /// <remarks>
    /// Queues a job that trains a GRU on a dataset (or inline data) and publishes the result as the next version of the
    /// named model, activated unless "activate" is false. Answers 202 with the job's URL in Location; GET it to watch
    /// progress. Every field but model, task and the data has a default. A full queue answers 429 with Retry-After. A model
    /// keeps one task across its versions: a job whose task is not that of the model it would publish to answers 409.
    /// Inline data is checked whole before the job is queued (400 saying what is wrong); a stored dataset is checked
    /// against its record now and read when the job runs. The body is JSON (Content-Type application/json, or none) of
    /// at most Kestrel's request body limit (30 MB); larger data belongs in a dataset.
    /// </remarks>
    /// <param name="jobs">The job store, which is the queue.</param>
    /// <param name="signal">Wakes a worker of this process for the job.</param>
    /// <param name="datasets">The dataset store.</param>
    /// <param name="registry">The served models, whose tasks a job must keep.</param>
    /// <param name="models">Model limits.</param>
    /// <param name="options">Queue settings.</param>
    /// <param name="json">The JSON options the body is read with.</param>
    /// <param name="context">The request, whose body says what to train; for Retry-After, and its abort token for the reads.</param>
    public static async Task<Results<Accepted<TrainingJobAccepted>, BadRequestProblem, ConflictProblem, ContentTooLargeProblem, UnsupportedMediaTypeProblem, TooManyRequestsProblem>> StartJob(
        IJobStore jobs, TrainingJobSignal signal, IDatasetStore datasets, ModelRegistry registry,
        IOptions<ModelOptions> models, IOptions<TrainingJobOptions> options, IOptions<JsonOptions> json, HttpContext context)
    {
        if (context.Request.ContentType is { } type && !context.Request.HasJsonContentType())
            return ApiProblem.UnsupportedMediaType($"The body is sent as '{type}'; send the training job as JSON with Content-Type: application/json.");
        TrainingJobRequest request;
        JsonElement recordedRequest;
        try
        {
            request = await ReadRequestAsync(context.Request, json.Value.SerializerOptions, context.RequestAborted);
            TrainingPlan plan = await TrainingPlan.CreateAsync(request, datasets, models.Value.Limits, options.Value.Threads, context.RequestAborted);
            // Checked again when the job publishes, in case the model changes meanwhile; here it fails before any training.
            if (registry.TaskConflict(plan.Model, plan.Task) is { } conflict)
                return ApiProblem.Conflict("task_mismatch", $"The job was not queued: {conflict}");
            recordedRequest = RecordRequest(request);
            // Inline data came with the request, so it is checked whole now (once it is known to be valid Unicode); a
            // stored dataset is read when the job runs.
            if (plan.DataIsInline) await plan.CheckInlineDataAsync(datasets, context.RequestAborted);
        }
        catch (TrainingRequestException e)
        {
            return ApiProblem.BadRequest("invalid_training_job", e.Message);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            long? limit = context.Features.Get<IHttpMaxRequestBodySizeFeature>()?.MaxRequestBodySize;
            return ApiProblem.ContentTooLarge(
                $"The training job is larger than the server's limit of {limit} bytes for a request body; upload large data as a dataset (POST /v1/datasets) and name it in 'dataset'.");
        }
        string id = $"job-{Guid.NewGuid():N}"[..16];
        var job = new TrainingJob(id, JobStatus.Queued, request.Model, request.Task, request.Dataset, DateTimeOffset.UtcNow,
            null, null, null, [], null, null, 0, recordedRequest);
        // Not the request's token: once the job may be stored, a client that goes away must not leave the outcome unknown.
        if (!await jobs.TryEnqueueAsync(job, options.Value.QueueCapacity, CancellationToken.None))
        {
            context.Response.Headers.RetryAfter = "30";
            return ApiProblem.TooManyRequests("training_queue_full",
                $"The training queue is full ({options.Value.QueueCapacity} jobs wait already, Training:QueueCapacity); retry later.");
        }
        signal.JobQueued();
        return TypedResults.Accepted($"/v1/training-jobs/{id}", new TrainingJobAccepted(id, JobStatus.Queued));
    }

    /// <summary>List training jobs</summary>
    /// <remarks>
    /// Jobs, newest first, a page at a time: ?limit= jobs (50 unless given, at most 500); ?status=queued|running|succeeded|failed|cancelled
    /// keeps only those. When older jobs follow, the body's "next" is a token and the Link header (rel="next") the URL of
    /// the next page: send the token back as ?after= with the same status and limit, until a page comes without "next".
    /// Jobs created while a client walks the pages are newer than every page after the first, so a walk lists each job
    /// at most once. A job's request is listed with inline data replaced by a description of it
    /// ({"inline": true, "series": 1, "steps": ..., "values": ...}); GET /v1/training-jobs/{id} shows the whole request.
    /// A status, limit or after that is not one answers 400 (reasons invalid_status, invalid_limit, invalid_cursor).
    /// </remarks>
    /// <param name="status">Only jobs in this status.</param>
    /// <param name="limit">The most jobs in the page: 1 to 500. Default 50.</param>
    /// <param name="after">The "next" token of the page before; the page starts with the job after it. Leave it out for the newest jobs.</param>
    /// <param name="jobs">The job store.</param>
    /// <param name="response">For the Link header to the next page.</param>
    /// <param name="cancellationToken">The request's.</param>
    public static async Task<Results<Ok<TrainingJobList>, BadRequestProblem>> ListJobs(
        string? status, string? limit, string? after, IJobStore jobs, HttpResponse response, CancellationToken cancellationToken)
    {
        if (status is not null && !JobStatus.All.Contains(status))
            return ApiProblem.BadRequest("invalid_status", $"status '{status}' is not one of {string.Join(", ", JobStatus.All)}.");
        int pageSize = DefaultPageSize;
        if (limit is not null && (!int.TryParse(limit, NumberStyles.None, CultureInfo.InvariantCulture, out pageSize) || pageSize is < 1 or > MaxPageSize))
            return ApiProblem.BadRequest("invalid_limit",
                $"limit '{limit}' is not a number of jobs from 1 to {MaxPageSize}; leave it out for pages of {DefaultPageSize}, and follow 'next' for more.");
        JobCursor? cursor = null;
        if (after is not null && (cursor = JobCursor.FromToken(after)) is null)
            return ApiProblem.BadRequest("invalid_cursor",
                $"after '{after}' is not a token of this list; send back the 'next' of the page before as it came, or leave after out to start at the newest job.");

        JobPage page = await jobs.ListAsync(status, pageSize, cursor, cancellationToken);
        string? next = page.Next?.ToToken();
        if (next is not null)
        {
            var query = new List<KeyValuePair<string, string?>>(3);
            if (status is not null) query.Add(new("status", status));
            query.Add(new("limit", pageSize.ToString(CultureInfo.InvariantCulture)));
            query.Add(new("after", next));
            HttpRequest request = response.HttpContext.Request;
            response.Headers.Link = $"<{request.PathBase}{request.Path}{QueryString.Create(query)}>; rel=\"next\"";
        }
        // Inline data can be megabytes per job: the list describes it, the job's own record has it.
        return TypedResults.Ok(new TrainingJobList([.. page.Jobs.Select(j => j with { Request = TrainingRequestSummary.WithoutInlineData(j.Request) })], next));
    }

    /// <summary>Get a training job</summary>
    /// <remarks>Status, progress (epoch, batches, train and validation loss, validation metric, elapsed and estimated time left), per-epoch history, and the result (model version and metrics) or the error.</remarks>
    /// <param name="id">The job's id.</param>
    /// <param name="jobs">The job store.</param>
    /// <param name="cancellationToken">The request's.</param>
    public static async Task<Results<Ok<TrainingJob>, NotFoundProblem>> GetJob(string id, IJobStore jobs, CancellationToken cancellationToken) =>
        await jobs.GetAsync(id, cancellationToken) is { } job ? TypedResults.Ok(job) : UnknownJob(id);

    /// <summary>Cancel a training job</summary>
    /// <remarks>
    /// A queued job is cancelled at once; a running one stops at its next batch and publishes nothing (on another
    /// replica: as soon as it is notified, at the latest at its next heartbeat). Answers 202 with the job's record.
    /// Cancelling is idempotent: a job already cancelled answers 202 with its record again. A job that succeeded or
    /// failed answers 409 (reason job_finished).
    /// </remarks>
    /// <param name="id">The job's id.</param>
    /// <param name="jobs">The job store.</param>
    /// <param name="worker">The worker running jobs.</param>
    public static async Task<Results<Accepted<TrainingJob>, NotFoundProblem, ConflictProblem>> CancelJob(string id, IJobStore jobs, TrainingWorker worker)
    {
        TrainingJob? job = await jobs.RequestCancelAsync(id, CancellationToken.None);
        if (job is null) return UnknownJob(id);
        if (JobStatus.IsFinal(job.Status) && job.Status != JobStatus.Cancelled)
            return ApiProblem.Conflict("job_finished", $"Training job '{id}' has already {job.Status}.");
        if (job.Status == JobStatus.Running) worker.CancelRunning(id);
        return TypedResults.Accepted($"/v1/training-jobs/{id}", job);
    }

    /// <summary>Delete a training job</summary>
    /// <remarks>
    /// Removes a job that has ended (succeeded, failed or cancelled) with everything stored for it: its record, with its
    /// request and any inline data, and its checkpoint. Answers 204. The model version it published and the datasets it
    /// trained on stay (the version's card still names the job in metadata.training.job). A queued or running job answers
    /// 409 (reason job_not_finished): cancel it first (POST /v1/training-jobs/{id}/cancel), then delete it once it shows
    /// cancelled.
    /// </remarks>
    /// <param name="id">The job's id.</param>
    /// <param name="jobs">The job store.</param>
    public static async Task<Results<NoContent, NotFoundProblem, ConflictProblem>> DeleteJob(string id, IJobStore jobs)
    {
        // Not the request's token, as for a cancellation: a deletion once begun is finished, whether the client waits or not.
        TrainingJob? job = await jobs.DeleteAsync(id, CancellationToken.None);
        if (job is null) return UnknownJob(id);
        if (!JobStatus.IsFinal(job.Status))
            return ApiProblem.Conflict("job_not_finished",
                $"Training job '{id}' is {job.Status}, so it was not deleted; cancel it first (POST /v1/training-jobs/{id}/cancel), then delete it once its status is cancelled.");
        return TypedResults.NoContent();
    }

    /// <summary>The request as the job records it; a TrainingRequestException when it cannot be written back as JSON.</summary>
    private static JsonElement RecordRequest(TrainingJobRequest request)
    {
        try
        {
            return JsonSerializer.SerializeToElement(request, GruJsonContext.Default.TrainingJobRequest);
        }
        catch (JsonException e)
        {
            // The reader accepts escaped lone surrogates inside free-form inline data, which no JSON writer may emit.
            throw new TrainingRequestException($"The request cannot be recorded as JSON: {e.InnerException?.Message ?? e.Message} Send text as valid Unicode.");
        }
    }

    /// <summary>
    /// The body as a request, read with the JSON options the framework's binding would use, but refused in the API's
    /// words: a body that is empty, not JSON, or not a training job throws a TrainingRequestException saying where and why.
    /// </summary>
    private static async Task<TrainingJobRequest> ReadRequestAsync(HttpRequest http, JsonSerializerOptions options, CancellationToken cancellationToken)
    {
        const string Expected = "send the training job as a JSON object, e.g. {\"model\": \"oil\", \"task\": \"forecast\", \"dataset\": \"...\"}";
        if (http.ContentLength == 0 || http.HttpContext.Features.Get<IHttpRequestBodyDetectionFeature>() is { CanHaveBody: false })
            throw new TrainingRequestException($"The body is empty; {Expected}.");
        var documentOptions = new JsonDocumentOptions
        {
            AllowTrailingCommas = options.AllowTrailingCommas,
            CommentHandling = options.ReadCommentHandling,
            MaxDepth = options.MaxDepth,
        };
        JsonDocument document;
        try
        {
            // Not http.Body: a read its token cancels leaves Kestrel's connection mid-read (see CancellableBodyReads).
            document = await JsonDocument.ParseAsync(http.CancellableBody(), documentOptions, cancellationToken);
        }
        catch (JsonException e)
        {
            throw new TrainingRequestException(JsonBodyErrors.NotJson(e));
        }
        using (document)
        {
            var type = (JsonTypeInfo<TrainingJobRequest>)options.GetTypeInfo(typeof(TrainingJobRequest));
            try
            {
                // Data, a JsonElement, is copied out of the document, so it outlives it.
                return document.Deserialize(type) ?? throw new TrainingRequestException($"The body is null; {Expected}.");
            }
            catch (JsonException e)
            {
                throw new TrainingRequestException(JsonBodyErrors.Describe(e, document.RootElement, type));
            }
        }
    }

    private static NotFoundProblem UnknownJob(string id) =>
        ApiProblem.NotFound("unknown_training_job", $"There is no training job '{id}'; GET /v1/training-jobs lists them.");

    /// <summary>
    /// Writing to the job store can fail (a full disk: 507; an unwritable root or an unreachable database: 503). The
    /// exception handler answers those with problem bodies (ProblemsExtensions); this puts them in the OpenAPI document.
    /// </summary>
    private static RouteHandlerBuilder ProducesStorageProblems(this RouteHandlerBuilder endpoint) => endpoint
        .ProducesProblem(StatusCodes.Status503ServiceUnavailable)
        .ProducesProblem(StatusCodes.Status507InsufficientStorage);
}
