using System.ComponentModel.DataAnnotations;
using GruService.Engine.ModelFiles;

namespace GruService.Api.Models;

/// <summary>Model registry settings. Bound from the "Models" section.</summary>
public sealed class ModelOptions
{
    public const string Section = "Models";

    /// <summary>
    /// Model files (NAME.safetensors) imported as version 1 of NAME at start-up when the store has no model of that name.
    /// Empty: none. Relative paths are resolved against the application directory, where the build copies models/.
    /// </summary>
    public string BundledDirectory { get; set; } = "models";

    /// <summary>What an uploaded model file may be; uploads over MaxFileBytes answer 413.</summary>
    [Required]
    public ModelLimits Limits { get; set; } = new();
}
