namespace GruService.Api.Datasets;

public static class DatasetsExtensions
{
    /// <summary>Dataset uploads and storage. The store reads Storage:Root, which AddModelRegistry binds.</summary>
    public static IServiceCollection AddDatasets(this IServiceCollection services)
    {
        services.AddOptions<DatasetOptions>()
            .BindConfiguration(DatasetOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<IDatasetStore, FileDatasetStore>();
        return services;
    }
}
