using System.Text.Json;
using GruService.Engine;

namespace GruService.Api.Models;

/// <summary>What a model is and how to call it.</summary>
/// <param name="Name">The model's name, as used in the URL.</param>
/// <param name="Version">The version this card describes (the active one unless listed otherwise).</param>
/// <param name="Task">"forecast" or "classify".</param>
/// <param name="InputSize">Features per time step.</param>
/// <param name="FeatureNames">What the features of a time step are, in order: the k-th number of every step in <c>inputs</c> is
/// FeatureNames[k]. Models trained by the service record their input columns; from a model file's config key feature_names,
/// when it names input_size features, and absent otherwise (files exported from PyTorch usually name none).</param>
/// <param name="HiddenSize">GRU hidden state size.</param>
/// <param name="NumLayers">Stacked GRU layers.</param>
/// <param name="Bidirectional">Whether each layer also reads the sequence backwards.</param>
/// <param name="LinearBeforeReset">True for PyTorch's GRU; false for the original reset-before-matmul form.</param>
/// <param name="Variant">"linear_before_reset" (torch.nn.GRU) or "reset_before_matmul" (Cho et al., Keras reset_after=False).</param>
/// <param name="Horizon">Forecast models: future steps predicted.</param>
/// <param name="OutputSize">Forecast models: values per future step.</param>
/// <param name="TargetNames">Forecast models: what the values of a forecast step are, in order (the columns forecast). Models trained by
/// the service record their target columns; from a model file's config key target_names, when it names output_size values, and absent otherwise.</param>
/// <param name="Classes">Classify models: the labels, in the order of the probabilities.</param>
/// <param name="InputNormalization">Whether inputs are standardised with the model's input_mean and input_std.</param>
/// <param name="TargetNormalization">Whether forecasts are de-normalised with target_mean and target_std.</param>
/// <param name="WindowNormalization">Forecast extension: "mean" or "last" when each input window's mean or last value is subtracted and added back to the forecast.</param>
/// <param name="ChannelIndependent">Forecast extension: true when one univariate GRU forecasts each input column on its own.</param>
/// <param name="SegmentLength">Forecast extension: time steps the GRU reads per step; sequence lengths must be multiples of it.</param>
/// <param name="ParameterCount">Number of weights and biases.</param>
/// <param name="Sha256">SHA-256 of the model file, hex.</param>
/// <param name="SizeBytes">Size of the model file.</param>
/// <param name="CreatedAt">When this version was stored.</param>
/// <param name="Metadata">Config keys the format does not interpret (description, feature names, training info).</param>
public sealed record ModelCard(
    string Name,
    int Version,
    string Task,
    int InputSize,
    IReadOnlyList<string>? FeatureNames,
    int HiddenSize,
    int NumLayers,
    bool Bidirectional,
    bool LinearBeforeReset,
    string Variant,
    int? Horizon,
    int? OutputSize,
    IReadOnlyList<string>? TargetNames,
    IReadOnlyList<string>? Classes,
    bool InputNormalization,
    bool TargetNormalization,
    string? WindowNormalization,
    bool? ChannelIndependent,
    int? SegmentLength,
    long ParameterCount,
    string Sha256,
    long SizeBytes,
    DateTimeOffset CreatedAt,
    IReadOnlyDictionary<string, JsonElement> Metadata)
{
    /// <summary>Config keys (kept in <see cref="GruConfig.Extra"/>) that name the input features and the forecast's values.</summary>
    public const string FeatureNamesKey = "feature_names", TargetNamesKey = "target_names";

    public static ModelCard From(ServedModel served)
    {
        GruConfig c = served.Model.Config;
        bool forecast = c.Task == GruTask.Forecast;
        return new ModelCard(
            served.Name, served.Version, served.TaskName,
            c.InputSize, Names(c, FeatureNamesKey, c.InputSize), c.HiddenSize, c.NumLayers, c.Bidirectional, c.LinearBeforeReset,
            c.LinearBeforeReset ? "linear_before_reset" : "reset_before_matmul",
            forecast ? c.Horizon : null, forecast ? c.OutputSize : null, forecast ? Names(c, TargetNamesKey, c.OutputSize) : null, forecast ? null : c.Classes,
            c.InputMean is not null, c.TargetMean is not null,
            c.WindowNormalization == Engine.Training.Data.WindowNormalization.None ? null : c.WindowNormalization.ToString().ToLowerInvariant(),
            c.ChannelIndependent ? true : null,
            c.SegmentLength > 1 ? c.SegmentLength : null,
            served.Model.ParameterCount, served.Stored.Sha256, served.Stored.SizeBytes, served.Stored.CreatedAt, c.Extra);
    }

    /// <summary>
    /// The names under a config key, when they are exactly <paramref name="count"/> strings; null otherwise. The format
    /// keeps such keys as given without checking them, so a list that does not fit the model is not shown as if it did
    /// (it stays visible, as given, in the metadata).
    /// </summary>
    private static string[]? Names(GruConfig config, string key, int count)
    {
        if (!config.Extra.TryGetValue(key, out JsonElement names) || names.ValueKind != JsonValueKind.Array || names.GetArrayLength() != count) return null;
        string[] result = new string[count];
        int i = 0;
        foreach (JsonElement name in names.EnumerateArray())
        {
            if (name.ValueKind != JsonValueKind.String) return null;
            result[i++] = name.GetString()!;
        }
        return result;
    }
}
