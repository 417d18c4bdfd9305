namespace GruService.Api.Datasets;

public static class DatasetsExtensions
{
    /// <summary>Dataset upload limits. The store is the configured provider's (AddGruStorage).</summary>
    public static IServiceCollection AddDatasets(this IServiceCollection services)
    {
        services.AddOptions<DatasetOptions>()
            .BindConfiguration(DatasetOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        return services;
    }
}
