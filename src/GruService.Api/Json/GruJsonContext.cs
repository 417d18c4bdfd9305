using System.Text.Json.Serialization;
using GruService.Api.Health;
using GruService.Api.Inference;
using GruService.Api.Models;

namespace GruService.Api.Json;

/// <summary>Source-generated serialisers for every type the API reads or writes.</summary>
[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(ModelList))]
[JsonSerializable(typeof(ModelCard))]
[JsonSerializable(typeof(ModelVersionList))]
[JsonSerializable(typeof(InferenceRequest))]
[JsonSerializable(typeof(ForecastResponse))]
[JsonSerializable(typeof(ClassifyResponse))]
[JsonSerializable(typeof(HealthResponse))]
[JsonSerializable(typeof(GruService.Api.Datasets.DatasetList))]
[JsonSerializable(typeof(GruService.Api.Datasets.DatasetRecord))]
[JsonSerializable(typeof(GruService.Api.Training.TrainingJobRequest))]
[JsonSerializable(typeof(GruService.Api.Training.TrainingJob))]
[JsonSerializable(typeof(GruService.Api.Training.TrainingJobAccepted))]
[JsonSerializable(typeof(GruService.Api.Training.TrainingJobList))]
internal sealed partial class GruJsonContext : JsonSerializerContext;
