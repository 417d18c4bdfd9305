using GruService.Api.Datasets;
using GruService.Api.Models;
using GruService.Api.Storage.Postgres;
using GruService.Api.Training;
using Microsoft.Extensions.Options;

namespace GruService.Api.Storage;

public static class StorageExtensions
{
    /// <summary>
    /// The model, dataset and job stores of the configured Storage:Provider: local files and SQLite for one
    /// instance (File, the default), or a PostgreSQL database shared by replicas (Postgres), whose changes reach
    /// every replica through <see cref="PostgresChangeListener"/>.
    /// </summary>
    public static IServiceCollection AddGruStorage(this IServiceCollection services)
    {
        services.AddOptions<StorageOptions>()
            .BindConfiguration(StorageOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<StorageOptions>, PostgresOptionsValidation>();

        services.AddSingleton(provider => ActivatorUtilities.CreateInstance<PostgresDatabase>(provider));
        services.AddSingleton<IModelStore>(provider => UsesPostgres(provider)
            ? ActivatorUtilities.CreateInstance<PostgresModelStore>(provider)
            : ActivatorUtilities.CreateInstance<FileModelStore>(provider));
        services.AddSingleton<IDatasetStore>(provider => UsesPostgres(provider)
            ? ActivatorUtilities.CreateInstance<PostgresDatasetStore>(provider)
            : ActivatorUtilities.CreateInstance<FileDatasetStore>(provider));
        services.AddSingleton<IJobStore>(provider => UsesPostgres(provider)
            ? ActivatorUtilities.CreateInstance<PostgresJobStore>(provider)
            : ActivatorUtilities.CreateInstance<SqliteJobStore>(provider));
        services.AddHostedService<PostgresChangeListener>();
        return services;
    }

    private static bool UsesPostgres(IServiceProvider provider) =>
        provider.GetRequiredService<IOptions<StorageOptions>>().Value.Provider == StorageProvider.Postgres;

    /// <summary>Says which Storage:Postgres value is wrong, rather than only that one is.</summary>
    private sealed class PostgresOptionsValidation : IValidateOptions<StorageOptions>
    {
        public ValidateOptionsResult Validate(string? name, StorageOptions options) =>
            options.Provider == StorageProvider.Postgres && options.Postgres.Problem() is { } problem
                ? ValidateOptionsResult.Fail(problem)
                : ValidateOptionsResult.Success;
    }
}
