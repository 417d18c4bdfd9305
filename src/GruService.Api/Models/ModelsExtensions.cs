namespace GruService.Api.Models;

public static class ModelsExtensions
{
    public static IServiceCollection AddModelRegistry(this IServiceCollection services)
    {
        services.AddOptions<ModelOptions>()
            .BindConfiguration(ModelOptions.Section)
            // Upper bounds keep every size computed from a valid file (3 × hidden × width, buffer lengths) inside an int.
            .Validate(o => o.Limits.MaxFileBytes is > 0 and <= int.MaxValue && o.Limits.MaxHeaderBytes is > 0 and <= 100_000_000
                && o.Limits.MaxInputSize is > 0 and <= 1 << 20 && o.Limits.MaxHiddenSize is > 0 and <= 1 << 16
                && o.Limits.MaxLayers is > 0 and <= 64 && o.Limits.MaxHorizon is > 0 and <= 1 << 20
                && o.Limits.MaxOutputSize is > 0 and <= 1 << 20 && o.Limits.MaxClasses is >= 2 and <= 1 << 20
                && o.Limits.MaxParameters is > 0 and <= 1L << 30,
                "Models:Limits values must be positive and at most: MaxFileBytes 2^31-1, MaxHeaderBytes 10^8, MaxInputSize 2^20, "
                + "MaxHiddenSize 2^16, MaxLayers 64, MaxHorizon 2^20, MaxOutputSize 2^20, MaxClasses 2^20 (at least 2), MaxParameters 2^30.")
            .ValidateOnStart();
        services.AddSingleton<ModelRegistry>();
        services.AddHostedService<ModelRegistryLoader>();
        return services;
    }
}
