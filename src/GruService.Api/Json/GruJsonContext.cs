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
internal sealed partial class GruJsonContext : JsonSerializerContext;
