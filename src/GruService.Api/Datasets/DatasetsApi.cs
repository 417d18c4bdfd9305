using System.Text.Json;
using GruService.Api.Hosting;
using GruService.Api.Json;
using GruService.Api.Models;
using GruService.Api.Problems;
using GruService.Api.Security;
using GruService.Api.Training;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.Extensions.Options;

namespace GruService.Api.Datasets;

public static class DatasetsApi
{
    public const string CsvContentType = "text/csv";
    public const string NdjsonContentType = "application/x-ndjson";

    /// <summary>NDJSON goes by several names; all are read the same way.</summary>
    private static readonly string[] NdjsonContentTypes = [NdjsonContentType, "application/ndjson", "application/jsonl"];

    public static RouteGroupBuilder MapDatasetsApi(this IEndpointRouteBuilder app)
    {
        RouteGroupBuilder group = app.MapGroup("/v1/datasets")
            .WithTags("Datasets")
            .AddEndpointFilter<ErrorMetricsFilter>();

        group.MapGetAndHead("/", ListDatasets).WithName("ListDatasets").RequireApiKey(ApiKeyPolicies.Read);
        group.MapGetAndHead("/{id}", GetDataset).WithName("GetDataset").RequireApiKey(ApiKeyPolicies.Read);
        // The body is documented by OperationDocsTransformer rather than Accepts<T>: routing would otherwise refuse
        // other content types with a bare 415 before the handler could say which ones it takes.
        group.MapPost("/", UploadDataset).WithName("UploadDataset").RequireApiKey(ApiKeyPolicies.Manage)
            .WithRequestTimeout(RequestTimeoutPolicies.Upload);
        group.MapDelete("/{id}", DeleteDataset).WithName("DeleteDataset").RequireApiKey(ApiKeyPolicies.Manage);
        return group;
    }

    /// <summary>List datasets</summary>
    /// <remarks>Every stored dataset's record, oldest first.</remarks>
    /// <param name="store">The dataset store.</param>
    /// <param name="cancellationToken">The request's.</param>
    public static async Task<Ok<DatasetList>> ListDatasets(IDatasetStore store, CancellationToken cancellationToken) =>
        TypedResults.Ok(new DatasetList(await store.ListAsync(cancellationToken)));

    /// <summary>Get a dataset's record</summary>
    /// <remarks>Format, kind, row count, feature names, stored size, creation time, and the summary: series with their lengths and first and last time values, or label counts and sequence lengths.</remarks>
    /// <param name="id">The dataset's id, as returned by the upload.</param>
    /// <param name="store">The dataset store.</param>
    /// <param name="cancellationToken">The request's.</param>
    public static async Task<Results<Ok<DatasetRecord>, NotFoundProblem>> GetDataset(string id, IDatasetStore store, CancellationToken cancellationToken) =>
        await store.GetAsync(id, cancellationToken) is { } record ? TypedResults.Ok(record) : UnknownDataset(id);

    /// <summary>Upload a dataset</summary>
    /// <remarks>
    /// The body is the data itself, raw (not a form), read as a stream, so it may be far larger than memory; nothing is stored unless all of it is valid.
    /// <para>Content-Type text/csv: a time series with a header row (a first line of nothing but numbers and dates is refused as a missing header, whose row would be lost). Numeric columns are features; the column that ?time= names, or else a column
    /// named date, time or timestamp, or else the first text column whose first value is an ISO 8601 date or time, or else the first text column, is the time index; an optional series id column (the one ?series= names, or else
    /// one named "series") holds several series in one file, whose rows may be interleaved (each series keeps its rows in file order). Other text columns are ignored and listed in the summary. RFC 4180 quoting, LF or CRLF,
    /// an optional UTF-8 byte order mark. A column's type is decided by its first value that is not a missing-value marker (empty, NA, N/A, #N/A, NaN, null, None, &lt;NA&gt;), looking up to 100 rows ahead; every feature value must then be a finite number in every row, so a missing value in a feature column is refused, naming its row and column.
    /// When row 1's time value is an ISO 8601 date or date and time, or a number, each series' times must increase: a time that goes back or repeats is
    /// refused, naming both rows and values (dates without a time of day may repeat, for files that keep the hour in a column of its own);
    /// other time values (d/m/y dates, labels) are not checked.</para>
    /// <para>Content-Type application/x-ndjson (or application/ndjson, application/jsonl): labelled sequences for classification, one JSON object per line,
    /// {"sequence": [[x0, x1, ...], ...], "label": "walking"}, or a sequence of bare numbers for one feature. Every time step has the same width.</para>
    /// <para>Bad data answers 400 naming the line (and the row and column, or the step and feature); a body over Datasets:MaxUploadBytes (1 GiB by default) answers 413.</para>
    /// </remarks>
    /// <param name="name">A name for people to recognise the dataset by (not unique): 1 to 64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit. Default: dataset-ID8, from the first 8 characters of the id.</param>
    /// <param name="series">CSV only: the column that holds the series id (its name in the header, ignoring case), for files whose id column is not named "series".</param>
    /// <param name="time">CSV only: the column that holds the time index, for files whose time column is not named date, time or timestamp.</param>
    /// <param name="request">The HTTP request whose body is the data.</param>
    /// <param name="store">The dataset store.</param>
    /// <param name="options">The upload limits.</param>
    /// <param name="cancellationToken">Aborted when the client goes away.</param>
    public static async Task<Results<Created<DatasetRecord>, BadRequestProblem, ContentTooLargeProblem, UnsupportedMediaTypeProblem, StorageProblem>> UploadDataset(
        string? name, string? series, string? time, HttpRequest request, IDatasetStore store, IOptions<DatasetOptions> options, CancellationToken cancellationToken)
    {
        DatasetOptions limits = options.Value;
        string? format = FormatOf(request.ContentType);
        if (format is null)
            return ApiProblem.UnsupportedMediaType(
                $"Send the dataset as the raw request body with Content-Type {CsvContentType} (a time series) or {NdjsonContentType} (labelled sequences; "
                + $"application/ndjson and application/jsonl are read the same way), in UTF-8, e.g. curl --data-binary @data.csv -H 'Content-Type: text/csv'. "
                + $"The request's Content-Type is {(string.IsNullOrEmpty(request.ContentType) ? "missing" : $"'{request.ContentType}'")}.");
        if (name is not null && !ModelName.IsValid(name))
            return ApiProblem.BadRequest("invalid_dataset_name", $"'{name}' is not a valid dataset name: {ModelName.Rule}.");
        if (ColumnRoleProblem(format, ("series", series), ("time", time)) is { } roleProblem)
            return ApiProblem.BadRequest("invalid_column_role", roleProblem);
        if (request.ContentLength > limits.MaxUploadBytes)
            return TooLarge(limits.MaxUploadBytes);
        // The server's own limit (Kestrel's default is 30 MB) must not cut in before this one.
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = limits.MaxUploadBytes;

        try
        {
            await using IDatasetUpload upload = store.BeginUpload();
            using var lines = new BodyLineReader(request.BodyReader, limits.MaxUploadBytes, limits.MaxLineBytes);
            ParsedDataset parsed = format == DatasetRecord.CsvFormat
                ? await CsvTimeSeriesParser.ParseAsync(lines, upload, limits, new CsvColumnRoles(series, time), cancellationToken)
                : await NdjsonSequenceParser.ParseAsync(lines, upload, limits, cancellationToken);
            var record = new DatasetRecord(upload.Id, name ?? $"dataset-{upload.Id[..8]}", parsed.Format, parsed.Kind, parsed.Rows, parsed.Features,
                SizeBytes: 0, UploadBytes: lines.BytesRead, CreatedAt: DateTimeOffset.UtcNow, parsed.Summary);
            record = await upload.CommitAsync(record, cancellationToken);
            return TypedResults.Created($"/v1/datasets/{record.Id}", record);
        }
        catch (DatasetFormatException e)
        {
            return ApiProblem.BadRequest("invalid_dataset", $"The dataset was rejected and nothing was stored. {e.Message}");
        }
        catch (DatasetTooLargeException e)
        {
            return TooLarge(e.Limit);
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return TooLarge(limits.MaxUploadBytes);
        }
        catch (IOException e) when (e is not BadHttpRequestException && StorageFailure.IsDiskFull(e))
        {
            return ApiProblem.Storage(full: true, $"The storage root is full; the dataset was not stored: {e.Message}");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException && e is not BadHttpRequestException)
        {
            return ApiProblem.Storage(full: false, $"The storage root cannot be written; the dataset was not stored: {e.Message}");
        }
    }

    /// <summary>Why the query's column roles cannot apply, or null: they name CSV columns, so they must be names and come with a CSV body.</summary>
    private static string? ColumnRoleProblem(string format, params ReadOnlySpan<(string Parameter, string? Column)> roles)
    {
        foreach (var (parameter, column) in roles)
        {
            if (column is null) continue;
            if (string.IsNullOrWhiteSpace(column))
                return $"{parameter} is empty; give the name of a column of the CSV header, or leave {parameter} out.";
            if (format != DatasetRecord.CsvFormat)
                return $"{parameter} names a column of a CSV time series; an NDJSON dataset of labelled sequences has no columns, so leave it out.";
        }
        return null;
    }

    /// <summary>Delete a dataset</summary>
    /// <remarks>Removes the dataset's record and stored values. A dataset that a queued or running training job trains or validates on answers 409 until the job ends or is cancelled.</remarks>
    /// <param name="id">The dataset's id.</param>
    /// <param name="store">The dataset store.</param>
    /// <param name="jobs">The training jobs, which may still need the dataset.</param>
    /// <param name="cancellationToken">Aborted when the client goes away.</param>
    public static async Task<Results<NoContent, NotFoundProblem, ConflictProblem, StorageProblem>> DeleteDataset(
        string id, IDatasetStore store, IJobStore jobs, CancellationToken cancellationToken)
    {
        if (await JobsUsingAsync(id, jobs, cancellationToken) is { Count: > 0 } users)
            return ApiProblem.Conflict("dataset_in_use",
                $"Dataset '{id}' is the data of training job {string.Join(", ", users)}, not finished yet; cancel it (POST /v1/training-jobs/ID/cancel) or wait until it ends, then delete the dataset.");
        try
        {
            return await store.DeleteAsync(id, cancellationToken) ? TypedResults.NoContent() : UnknownDataset(id);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ApiProblem.Storage(full: false, $"Dataset '{id}' could not be removed from the storage root: {e.Message}");
        }
    }

    /// <summary>The queued and running jobs that train or validate on the dataset.</summary>
    private static async Task<List<string>> JobsUsingAsync(string id, IJobStore jobs, CancellationToken cancellationToken)
    {
        var users = new List<string>();
        foreach (string status in new[] { JobStatus.Queued, JobStatus.Running })
        {
            JobCursor? after = null;
            do
            {
                JobPage page = await jobs.ListAsync(status, TrainingJobsApi.MaxPageSize, after, cancellationToken);
                foreach (TrainingJob job in page.Jobs)
                {
                    if (job.Dataset == id || job.Request.Deserialize(GruJsonContext.Default.TrainingJobRequest)?.ValidationDataset == id)
                        users.Add(job.Id);
                }
                after = page.Next;
            }
            while (after is not null);
        }
        return users;
    }

    /// <summary>"csv" or "ndjson" for the accepted media types (in UTF-8, the only charset read); null for anything else.</summary>
    private static string? FormatOf(string? contentType)
    {
        if (!System.Net.Http.Headers.MediaTypeHeaderValue.TryParse(contentType, out var parsed) || parsed.MediaType is not { } mediaType) return null;
        if (parsed.CharSet is { } charset && !charset.Trim('"').Equals("utf-8", StringComparison.OrdinalIgnoreCase)
            && !charset.Trim('"').Equals("us-ascii", StringComparison.OrdinalIgnoreCase))
            return null;
        if (mediaType.Equals(CsvContentType, StringComparison.OrdinalIgnoreCase)) return DatasetRecord.CsvFormat;
        return NdjsonContentTypes.Contains(mediaType, StringComparer.OrdinalIgnoreCase) ? DatasetRecord.NdjsonFormat : null;
    }

    private static NotFoundProblem UnknownDataset(string id) =>
        ApiProblem.NotFound("unknown_dataset", $"There is no dataset '{id}'; GET /v1/datasets lists the datasets stored.");

    private static ContentTooLargeProblem TooLarge(long limit) =>
        ApiProblem.ContentTooLarge($"The dataset is larger than the limit of {limit} bytes (Datasets:MaxUploadBytes); nothing was stored.");
}
