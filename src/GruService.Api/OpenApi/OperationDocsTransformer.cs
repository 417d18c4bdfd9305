using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using GruService.Api.Inference;
using GruService.Api.Models;
using GruService.Api.Training;
using GruService.Engine;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.OpenApi;

namespace GruService.Api.OpenApi;

/// <summary>
/// Describes the request bodies the handlers read themselves, and fills path and body examples from the models
/// actually served, so "Try it out" in Swagger UI succeeds: the example name is a served model of the right task
/// (a bundled one when served), and the example body has that model's input size (a real window from its training data when the model file
/// carries one in the config key <c>example_input</c>).
/// </summary>
internal sealed class OperationDocsTransformer(ModelRegistry registry) : IOpenApiOperationTransformer
{
    public const string ExampleInputKey = "example_input";

    public async Task TransformAsync(OpenApiOperation operation, OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        ServedModel? example = operation.OperationId switch
        {
            "Forecast" => Example(GruTask.Forecast),
            "Classify" => Example(GruTask.Classify),
            _ => Example(task: null),
        };

        foreach (IOpenApiParameter parameter in operation.Parameters ?? [])
        {
            if (parameter is not OpenApiParameter concrete) continue;
            concrete.Example = concrete.Name switch
            {
                // Trying out a deletion must not remove a model that is served, least of all a bundled one: its example answers 404.
                "name" when operation.OperationId == "DeleteModel" => JsonValue.Create("my-old-model"),
                "name" => JsonValue.Create(example?.Name ?? "my-model"),
                "version" => JsonValue.Create(example?.Version ?? 1),
                _ => concrete.Example,
            };
            // ActivateModelVersion reads {version} as text, so that one that is no version answers a 400 problem
            // rather than a routing 404; what it accepts is a positive integer.
            if (concrete.Name == "version")
                concrete.Schema = new OpenApiSchema { Type = JsonSchemaType.Integer, Format = "int32", Minimum = "1" };
            // ListTrainingJobs reads ?limit= as text too, to answer one out of range with its own 400.
            if (concrete.Name == "limit" && operation.OperationId == "ListTrainingJobs")
            {
                concrete.Schema = new OpenApiSchema
                {
                    Type = JsonSchemaType.Integer, Format = "int32", Minimum = "1", Maximum = TrainingJobsApi.MaxPageSize.ToString(CultureInfo.InvariantCulture),
                    Default = JsonValue.Create(TrainingJobsApi.DefaultPageSize),
                };
            }
        }

        switch (operation.OperationId)
        {
            case "Forecast" or "Classify":
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Description = "The sequences to answer: {\"inputs\": [sequence, ...]}. A sequence is an array of time steps, oldest first; "
                        + "a time step is an array of input_size numbers, or a bare number when input_size is 1. Sequences may have different lengths.",
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        ["application/json"] = new()
                        {
                            Schema = await context.GetOrCreateSchemaAsync(typeof(InferenceRequest), cancellationToken: cancellationToken),
                            Example = new JsonObject { ["inputs"] = ExampleInputs(example?.Model.Config) },
                        },
                    },
                };
                break;
            case "UploadModel":
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Description = "The model file, raw (not a form): a safetensors file with PyTorch tensor names and a 'config' metadata entry (docs/model-format.md).",
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        ["application/octet-stream"] = new() { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } },
                    },
                };
                break;
            case "StartTrainingJob":
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Description = "What to train, as JSON. Every field but model, task and the data (dataset, or inline data) has a default.",
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        ["application/json"] = new() { Schema = await TrainingJobSchemaAsync(context, cancellationToken), Example = TrainingJobExample() },
                    },
                };
                break;
            case "UploadDataset":
                foreach (IOpenApiParameter parameter in operation.Parameters ?? [])
                    if (parameter is OpenApiParameter { Name: "name" } datasetName) datasetName.Example = JsonValue.Create("etth1");
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Description = "The data, raw (not a form), in UTF-8. text/csv: a time series with a header row; numeric columns are features, "
                        + "a date/time/timestamp column (or the one ?time= names) is the time index (ISO 8601 or numeric times must increase within each series), an optional 'series' column (or the one ?series= names) holds several series. "
                        + "application/x-ndjson (also application/ndjson, application/jsonl): one {\"sequence\": [[...], ...], \"label\": \"...\"} object per line.",
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        ["text/csv"] = new()
                        {
                            Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                            Example = JsonValue.Create("date,HUFL,HULL,OT\n2016-07-01 00:00:00,5.827,2.009,30.531\n2016-07-01 01:00:00,5.693,2.076,27.787\n2016-07-01 02:00:00,5.157,1.741,27.787\n"),
                        },
                        ["application/x-ndjson"] = new()
                        {
                            Schema = new OpenApiSchema { Type = JsonSchemaType.String },
                            Example = JsonValue.Create("{\"sequence\": [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]], \"label\": \"walking\"}\n{\"sequence\": [[0.9, 0.1], [0.8, 0.2]], \"label\": \"sitting\"}\n"),
                        },
                    },
                };
                break;
        }
    }

    /// <summary>
    /// A job that runs as it stands, in seconds: a forecaster of a noiseless daily cycle sent inline (a stored
    /// dataset would need an id that only an upload gives). It publishes the model "daily-cycle".
    /// </summary>
    private static JsonObject TrainingJobExample() => new()
    {
        ["model"] = "daily-cycle",
        ["task"] = "forecast",
        ["data"] = new JsonObject
        {
            ["series"] = new JsonArray(new JsonArray([.. Enumerable.Range(0, 24 * 14).Select(hour =>
                (JsonNode?)JsonValue.Create(Math.Round(10 + 3 * Math.Sin(2 * Math.PI * hour / 24), 3)))])),
            ["columns"] = new JsonArray("temperature"),
        },
        ["window"] = 48,
        ["horizon"] = 12,
        ["architecture"] = new JsonObject { ["hidden_size"] = 16 },
        ["hyperparameters"] = new JsonObject { ["epochs"] = 5 },
    };

    /// <summary>
    /// The training job schema as a component, as it was when the framework bound the body: its name in the document
    /// and in clients generated from it stays TrainingJobRequest.
    /// </summary>
    private static async Task<IOpenApiSchema> TrainingJobSchemaAsync(OpenApiOperationTransformerContext context, CancellationToken cancellationToken)
    {
        OpenApiSchema schema = await context.GetOrCreateSchemaAsync(typeof(TrainingJobRequest), cancellationToken: cancellationToken);
        context.Document!.AddComponent(nameof(TrainingJobRequest), schema);
        return new OpenApiSchemaReference(nameof(TrainingJobRequest), context.Document);
    }

    /// <summary>
    /// The served model the examples name: a bundled one when one of the task is served (they carry a real window from
    /// their training data, and are the models the README's examples use), else the first by name.
    /// </summary>
    private ServedModel? Example(GruTask? task)
    {
        ServedModel[] served = [.. registry.List().Where(m => task is null || m.Task == task)];
        return served.FirstOrDefault(m => registry.IsBundled(m.Name)) ?? served.FirstOrDefault();
    }

    /// <summary>Two sequences of different lengths: the model's example window and its last half.</summary>
    private static JsonArray ExampleInputs(GruConfig? config)
    {
        JsonArray window = config is not null && config.Extra.TryGetValue(ExampleInputKey, out JsonElement stored) && stored.ValueKind == JsonValueKind.Array
            ? (JsonArray)JsonNode.Parse(stored.GetRawText())!
            : SyntheticWindow(config);
        var shorter = new JsonArray([.. window.Skip(window.Count / 2).Select(step => step?.DeepClone())]);
        return [window, shorter];
    }

    /// <summary>Without a stored window: a few steps near the model's input means (zeros when it has none).</summary>
    private static JsonArray SyntheticWindow(GruConfig? config)
    {
        int size = config?.InputSize ?? 1;
        var steps = new JsonArray();
        for (int t = 0; t < 8; t++)
        {
            float[] step = [.. Enumerable.Range(0, size).Select(i => (config?.InputMean?[i] ?? 0f) + 0.1f * MathF.Sin(t + i))];
            steps.Add(size == 1
                ? JsonValue.Create(Math.Round(step[0], 4))
                : new JsonArray([.. step.Select(v => (JsonNode?)JsonValue.Create(Math.Round(v, 4)))]));
        }
        return steps;
    }
}
