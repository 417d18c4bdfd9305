using Microsoft.Extensions.Options;

namespace GruService.Api.Models;

public static class ModelsExtensions
{
    public static IServiceCollection AddModelRegistry(this IServiceCollection services)
    {
        services.AddOptions<StorageOptions>()
            .BindConfiguration(StorageOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddOptions<ModelOptions>()
            .BindConfiguration(ModelOptions.Section)
            .Validate(o => o.Limits.MaxFileBytes > 0 && o.Limits.MaxHeaderBytes > 0 && o.Limits.MaxInputSize > 0
                && o.Limits.MaxHiddenSize > 0 && o.Limits.MaxLayers > 0 && o.Limits.MaxHorizon > 0
                && o.Limits.MaxOutputSize > 0 && o.Limits.MaxClasses >= 2 && o.Limits.MaxParameters > 0,
                "Every Models:Limits value must be positive (MaxClasses at least 2).")
            .ValidateOnStart();
        services.AddSingleton<IModelStore, FileModelStore>();
        services.AddSingleton<ModelRegistry>();
        services.AddHostedService<ModelRegistryLoader>();
        return services;
    }
}
