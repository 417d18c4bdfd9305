using System.ComponentModel.DataAnnotations;
using GruService.Api.Storage.Postgres;

namespace GruService.Api.Models;

/// <summary>Where models, datasets and training jobs live. Bound from the "Storage" section.</summary>
public sealed class StorageOptions
{
    public const string Section = "Storage";

    /// <summary>
    /// File (the default): model files and datasets under <see cref="Root"/>, job records in SQLite there; one instance.
    /// Postgres: everything in the PostgreSQL database of <see cref="PostgresStorageOptions.ConnectionString"/>, shared by
    /// any number of replicas.
    /// </summary>
    public StorageProvider Provider { get; set; } = StorageProvider.File;

    /// <summary>
    /// Root directory of everything the File provider keeps; with Postgres, only uploads being validated are staged
    /// here. Relative paths are resolved against the working directory.
    /// </summary>
    [Required]
    public string Root { get; set; } = "./data";

    /// <summary>The Postgres provider's database and its timings ("Storage:Postgres").</summary>
    public PostgresStorageOptions Postgres { get; set; } = new();
}

public enum StorageProvider
{
    File,
    Postgres,
}
