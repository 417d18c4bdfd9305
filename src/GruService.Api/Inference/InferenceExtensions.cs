using GruService.Api.Observability;

namespace GruService.Api.Inference;

public static class InferenceExtensions
{
    public static IServiceCollection AddInference(this IServiceCollection services)
    {
        services.AddOptions<InferenceOptions>()
            .BindConfiguration(InferenceOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<ServiceMetrics>();
        return services;
    }
}
