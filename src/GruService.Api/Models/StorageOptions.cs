using System.ComponentModel.DataAnnotations;

namespace GruService.Api.Models;

/// <summary>Where models (and later datasets and jobs) live. Bound from the "Storage" section.</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>Root directory of everything the service keeps; relative paths are resolved against the working directory.</summary>
    [Required]
    public string Root { get; set; } = "./data";
}
