using GruService.Api.Observability;
using Microsoft.Extensions.Options;

namespace GruService.Api.Inference;

public static class InferenceExtensions
{
    public static IServiceCollection AddInference(this IServiceCollection services)
    {
        services.AddOptions<InferenceOptions>()
            .BindConfiguration(InferenceOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddOptions<BatchingOptions>()
            .BindConfiguration(BatchingOptions.Section)
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<BatchingOptions>, BatchingOptionsValidator>();
        services.AddSingleton<ServiceMetrics>();
        services.AddSingleton<InferenceBatcher>();
        return services;
    }
}
