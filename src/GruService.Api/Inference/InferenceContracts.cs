using System.Text.Json;

namespace GruService.Api.Inference;

/// <summary>Sequences to answer. Sequences in one request may have different lengths.</summary>
/// <param name="Inputs">
/// One entry per sequence; a sequence is an array of time steps, oldest first; a time step is an array of input_size
/// numbers, or a bare number when the model's input_size is 1.
/// </param>
public sealed record InferenceRequest(IReadOnlyList<IReadOnlyList<JsonElement>> Inputs);

/// <summary>Forecasts, one per input sequence, in input order.</summary>
/// <param name="Model">The model's name.</param>
/// <param name="Version">The model version that computed every forecast in this response.</param>
/// <param name="Forecasts">Per sequence: horizon steps, each output_size values, de-normalised to the target's units.</param>
public sealed record ForecastResponse(string Model, int Version, float[][][] Forecasts);

/// <summary>Predictions, one per input sequence, in input order.</summary>
/// <param name="Model">The model's name.</param>
/// <param name="Version">The model version that computed every prediction in this response.</param>
/// <param name="Predictions">Per sequence: the most probable class and every class's probability.</param>
public sealed record ClassifyResponse(string Model, int Version, IReadOnlyList<ClassPrediction> Predictions);

/// <summary>One sequence's classification.</summary>
/// <param name="Label">The most probable class's label.</param>
/// <param name="Index">The most probable class's position in the model card's classes.</param>
/// <param name="Probabilities">Softmax probabilities, one per class, in the card's class order.</param>
public sealed record ClassPrediction(string Label, int Index, float[] Probabilities);
