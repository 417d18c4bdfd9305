using System.Globalization;
using GruService.Api.Hosting;
using GruService.Api.Problems;
using GruService.Api.Security;
using GruService.Engine.ModelFiles;
using Microsoft.AspNetCore.Http.HttpResults;
// An upload's success, new version or not: Results<...> takes six outcomes, so the two successes are one of them.
using StoredModelCard = Microsoft.AspNetCore.Http.HttpResults.Results<
    Microsoft.AspNetCore.Http.HttpResults.Created<GruService.Api.Models.ModelCard>,
    Microsoft.AspNetCore.Http.HttpResults.Ok<GruService.Api.Models.ModelCard>>;

namespace GruService.Api.Models;

/// <summary>Every model the registry serves.</summary>
/// <param name="Models">One card per model, its active version, ordered by name.</param>
public sealed record ModelList(IReadOnlyList<ModelCard> Models);

/// <summary>The stored versions of one model.</summary>
/// <param name="Model">The model's name.</param>
/// <param name="ActiveVersion">The version requests are answered with.</param>
/// <param name="Versions">Every stored version, oldest first.</param>
public sealed record ModelVersionList(string Model, int? ActiveVersion, IReadOnlyList<ModelVersionInfo> Versions);

/// <summary>One stored version of a model file.</summary>
/// <param name="Version">1, 2, 3, ... in upload order.</param>
/// <param name="CreatedAt">When it was stored.</param>
/// <param name="Sha256">SHA-256 of the file, hex.</param>
/// <param name="SizeBytes">Size of the file.</param>
/// <param name="Active">Whether this version answers requests now.</param>
public sealed record ModelVersionInfo(int Version, DateTimeOffset CreatedAt, string Sha256, long SizeBytes, bool Active);

public static class ModelsApi
{
    public static RouteGroupBuilder MapModelsApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("/v1/models")
            .WithTags("Models")
            .AddEndpointFilter<ErrorMetricsFilter>()
            .AddEndpointFilter<RegistryReadyFilter>()
            .AddEndpointFilter<ModelNameFilter>()
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status503ServiceUnavailable);

        group.MapGetAndHead("/", ListModels).WithName("ListModels").RequireApiKey(ApiKeyPolicies.Read);
        group.MapGetAndHead("/{name}", GetModel).WithName("GetModel").RequireApiKey(ApiKeyPolicies.Read);
        // The body is documented by OperationDocsTransformer rather than Accepts<T>: routing would otherwise refuse
        // any Content-Type but the declared one (curl --data-binary and Python's urllib send form types) with a bare 415.
        group.MapPut("/{name}", UploadModel).WithName("UploadModel").RequireApiKey(ApiKeyPolicies.Manage)
            .WithRequestTimeout(RequestTimeoutPolicies.Upload);
        group.MapGetAndHead("/{name}/versions", ListVersions).WithName("ListModelVersions").RequireApiKey(ApiKeyPolicies.Read);
        // {version} takes any text, not {version:int}: the handler answers one that is no version with a 400 saying so,
        // where a route constraint would answer a bare 404.
        group.MapPost("/{name}/versions/{version}/activate", ActivateVersion).WithName("ActivateModelVersion").RequireApiKey(ApiKeyPolicies.Manage);
        group.MapDelete("/{name}", DeleteModel).WithName("DeleteModel").RequireApiKey(ApiKeyPolicies.Manage);
        return group;
    }

    /// <summary>List models</summary>
    /// <remarks>The card of every model the registry serves, each at its active version.</remarks>
    public static Ok<ModelList> ListModels(ModelRegistry registry) =>
        TypedResults.Ok(new ModelList([.. registry.List().Select(m => m.Card())]));

    /// <summary>Get a model's card</summary>
    /// <remarks>Architecture, task, sizes, feature names (when the model file names them: which feature goes where in inputs), variant, horizon, output size and target names or classes, parameter count, file SHA-256, creation time and metadata of the active version.</remarks>
    /// <param name="name">The model's name.</param>
    /// <param name="registry">The model registry.</param>
    public static Results<Ok<ModelCard>, NotFoundProblem> GetModel(string name, ModelRegistry registry) =>
        registry.TryGet(name, out ServedModel model)
            ? TypedResults.Ok(model.Card())
            : UnknownModel(name);

    /// <summary>Upload a model version</summary>
    /// <remarks>
    /// The body is a GruService model file (safetensors with PyTorch tensor names and a "config" metadata entry; see docs/model-format.md),
    /// sent raw as application/octet-stream, e.g. <c>curl -X PUT --data-binary @model.safetensors -H 'Content-Type: application/octet-stream' URL</c>.
    /// The file is validated completely before anything changes; it then becomes the model's next version (1, 2, 3, ...) and is made active
    /// atomically: requests in flight finish on the previous version and new ones get this one. An invalid file changes nothing.
    /// Every version of a model has the same task: a classify file for a forecast model (or the reverse) answers 409.
    /// Answers 201 Created with the new version's card; a file byte-for-byte identical to the model's active version
    /// (the same SHA-256) answers 200 OK with that version's card instead, storing no version and changing nothing, so
    /// re-applying the same file (a deployment pipeline's desired state) is idempotent. A file identical to an older,
    /// inactive version is a new version (201): roll back with the activate operation to reuse the stored one. An upload
    /// has no option that changes activation (it always activates), so an identical file asks for nothing that is not so.
    /// </remarks>
    /// <param name="name">The model's name: 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.</param>
    /// <param name="request">The HTTP request whose body is the model file.</param>
    /// <param name="registry">The model registry.</param>
    /// <param name="cancellationToken">Aborted when the client goes away.</param>
    public static async Task<Results<StoredModelCard, BadRequestProblem, ConflictProblem, ContentTooLargeProblem, UnsupportedMediaTypeProblem, StorageProblem>> UploadModel(
        string name, HttpRequest request, ModelRegistry registry, CancellationToken cancellationToken)
    {
        if (request.ContentType is { } type && type.StartsWith("multipart/", StringComparison.OrdinalIgnoreCase))
            return ApiProblem.UnsupportedMediaType(
                "Send the model file as the raw request body (Content-Type: application/octet-stream), not as a form: curl --data-binary @model.safetensors.");
        long limit = registry.MaxFileBytes;
        if (request.ContentLength > limit)
            return TooLarge(limit);
        if (request.HttpContext.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = limit;
        try
        {
            // Not request.Body: a read its token cancels leaves Kestrel's connection mid-read (see CancellableBodyReads).
            ModelUpload upload = await registry.UploadAsync(name, request.CancellableBody(), cancellationToken);
            StoredModelCard answer = upload.Created
                ? TypedResults.Created($"/v1/models/{name}", upload.Served.Card())
                : TypedResults.Ok(upload.Served.Card());
            return answer;
        }
        catch (ModelFileException e)
        {
            return ApiProblem.BadRequest("invalid_model_file", $"The model file for '{name}' was rejected and nothing changed: {e.Message}");
        }
        catch (ModelTooLargeException e)
        {
            return TooLarge(e.Limit);
        }
        catch (ModelTaskConflictException e)
        {
            return ApiProblem.Conflict("task_mismatch", $"The upload was not stored and nothing changed: {e.Message}");
        }
        catch (IOException e) when (StorageFailure.IsDiskFull(e))
        {
            return ApiProblem.Storage(full: true, $"The storage root is full; the upload was not stored and nothing changed: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not BadHttpRequestException)
        {
            return ApiProblem.Storage(full: false, $"The storage root cannot be written; the upload was not stored and nothing changed: {e.Message}");
        }
    }

    /// <summary>List a model's versions</summary>
    /// <remarks>Every stored version, oldest first, with which one is active.</remarks>
    /// <param name="name">The model's name.</param>
    /// <param name="registry">The model registry.</param>
    /// <param name="cancellationToken">Aborted when the client goes away.</param>
    public static async Task<Results<Ok<ModelVersionList>, NotFoundProblem>> ListVersions(string name, ModelRegistry registry, CancellationToken cancellationToken)
    {
        IReadOnlyList<StoredVersion> versions = await registry.VersionsAsync(name, cancellationToken);
        if (versions.Count == 0) return UnknownModel(name);
        int? active = registry.TryGet(name, out ServedModel model) ? model.Version : null;
        return TypedResults.Ok(new ModelVersionList(name, active,
            [.. versions.Select(v => new ModelVersionInfo(v.Version, v.CreatedAt, v.Sha256, v.SizeBytes, v.Version == active))]));
    }

    /// <summary>Activate a stored version</summary>
    /// <remarks>Rolls back or forward: the version is loaded and validated, then swapped in atomically. Returns the new active card. A version that is not a positive integer answers 400 (reason invalid_version); a stored version whose task is not the model's (one stored before every version had to share it) answers 409 (reason task_mismatch) and the active version keeps serving.</remarks>
    /// <param name="name">The model's name.</param>
    /// <param name="version">The stored version to serve: 1, 2, 3, ...</param>
    /// <param name="registry">The model registry.</param>
    /// <param name="cancellationToken">Aborted when the client goes away.</param>
    public static async Task<Results<Ok<ModelCard>, BadRequestProblem, NotFoundProblem, ConflictProblem, StorageProblem>> ActivateVersion(
        string name, string version, ModelRegistry registry, CancellationToken cancellationToken)
    {
        if (!int.TryParse(version, NumberStyles.None, CultureInfo.InvariantCulture, out int number) || number < 1)
            return ApiProblem.BadRequest("invalid_version",
                $"'{version}' is not a version: versions are positive integers (1, 2, 3, ...); GET /v1/models/{name}/versions lists the stored ones.");
        try
        {
            ServedModel? served = await registry.ActivateAsync(name, number, cancellationToken);
            if (served is not null) return TypedResults.Ok(served.Card());
            return (await registry.VersionsAsync(name, cancellationToken)).Count == 0
                ? UnknownModel(name)
                : ApiProblem.NotFound("unknown_version", $"Model '{name}' has no version {number}; GET /v1/models/{name}/versions lists them.");
        }
        catch (ModelFileException e)
        {
            return ApiProblem.Conflict("invalid_stored_model", $"Version {number} of '{name}' cannot be loaded, so the active version is unchanged: {e.Message}");
        }
        catch (ModelTaskConflictException e)
        {
            return ApiProblem.Conflict("task_mismatch", $"Version {number} was not activated and the active version is unchanged: {e.ActivationReason}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return StorageFailed(e, $"version {number} of '{name}' was not activated and the active version is unchanged");
        }
    }

    /// <summary>Delete a model</summary>
    /// <remarks>Removes the model and every stored version. A bundled default model is imported again at the next start.</remarks>
    /// <param name="name">The model's name.</param>
    /// <param name="registry">The model registry.</param>
    /// <param name="cancellationToken">Aborted when the client goes away.</param>
    public static async Task<Results<NoContent, NotFoundProblem, StorageProblem>> DeleteModel(string name, ModelRegistry registry, CancellationToken cancellationToken)
    {
        try
        {
            return await registry.DeleteAsync(name, cancellationToken) ? TypedResults.NoContent() : UnknownModel(name);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return StorageFailed(e, $"'{name}' was not deleted and is still served");
        }
    }

    /// <summary>A storage root that is full (507) or cannot be written (503, e.g. remounted read-only), said so rather than a 500.</summary>
    private static StorageProblem StorageFailed(Exception e, string outcome) => e is IOException io && StorageFailure.IsDiskFull(io)
        ? ApiProblem.Storage(full: true, $"The storage root is full; {outcome}: {e.Message}")
        : ApiProblem.Storage(full: false, $"The storage root cannot be written; {outcome}: {e.Message}");

    internal static NotFoundProblem UnknownModel(string name) =>
        ApiProblem.NotFound("unknown_model", $"There is no model '{name}'; GET /v1/models lists the models served.");

    private static ContentTooLargeProblem TooLarge(long limit) =>
        ApiProblem.ContentTooLarge($"The model file is larger than the limit of {limit} bytes (Models:Limits:MaxFileBytes).");
}
