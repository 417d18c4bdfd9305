using System.Text.Json;
using GruService.Engine;

namespace GruService.Api.Models;

/// <summary>What a model is and how to call it.</summary>
/// <param name="Name">The model's name, as used in the URL.</param>
/// <param name="Version">The version this card describes (the active one unless listed otherwise).</param>
/// <param name="Task">"forecast" or "classify".</param>
/// <param name="InputSize">Features per time step.</param>
/// <param name="FeatureNames">What the features of a time step are, in order: the k-th number of every step in <c>inputs</c> is
/// FeatureNames[k]. Models trained by the service record their input columns; a model file's config key feature_names, which an
/// upload must give as input_size distinct, non-blank strings when it gives it at all. Absent when the file names none (files exported
/// from PyTorch usually do not).</param>
/// <param name="HiddenSize">GRU hidden state size.</param>
/// <param name="NumLayers">Stacked GRU layers.</param>
/// <param name="Bidirectional">Whether each layer also reads the sequence backwards.</param>
/// <param name="LinearBeforeReset">True for PyTorch's GRU; false for the original reset-before-matmul form.</param>
/// <param name="Variant">"linear_before_reset" (torch.nn.GRU) or "reset_before_matmul" (Cho et al., Keras reset_after=False).</param>
/// <param name="Horizon">Forecast models: future steps predicted.</param>
/// <param name="OutputSize">Forecast models: values per future step.</param>
/// <param name="TargetNames">Forecast models: what the values of a forecast step are, in order (the columns forecast). Models trained by
/// the service record their target columns; a model file's config key target_names, which an upload must give as output_size distinct,
/// non-blank strings when it gives it at all. Absent when the file names none.</param>
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
    public static ModelCard From(ServedModel served)
    {
        GruConfig c = served.Model.Config;
        bool forecast = c.Task == GruTask.Forecast;
        // FeatureNames and TargetNames are null for names that do not fit the model, not just for absent ones: uploads
        // with such names are refused now, but a version stored before that check is still loaded as it was stored
        // (ModelFile.ReadStored), and its names must not be shown as if they said where each value goes. They stay
        // visible, as given, in the metadata.
        return new ModelCard(
            served.Name, served.Version, served.TaskName,
            c.InputSize, c.FeatureNames, c.HiddenSize, c.NumLayers, c.Bidirectional, c.LinearBeforeReset,
            c.LinearBeforeReset ? "linear_before_reset" : "reset_before_matmul",
            forecast ? c.Horizon : null, forecast ? c.OutputSize : null, c.TargetNames, forecast ? null : c.Classes,
            c.InputMean is not null, c.TargetMean is not null,
            c.WindowNormalization == Engine.Training.Data.WindowNormalization.None ? null : c.WindowNormalization.ToString().ToLowerInvariant(),
            c.ChannelIndependent ? true : null,
            c.SegmentLength > 1 ? c.SegmentLength : null,
            served.Model.ParameterCount, served.Stored.Sha256, served.Stored.SizeBytes, served.Stored.CreatedAt, c.Extra);
    }
}
