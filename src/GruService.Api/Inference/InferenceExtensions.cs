using GruService.Engine.Kernels;
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
        services.AddHostedService<KernelThreadsSetting>();
        return services;
    }

    /// <summary>Applies Inference:KernelThreads to the engine's kernels (a process-wide setting) before requests arrive.</summary>
    private sealed class KernelThreadsSetting(IOptions<InferenceOptions> options) : IHostedService
    {
        public Task StartAsync(CancellationToken cancellationToken)
        {
            Gemm.MaxThreads = options.Value.KernelThreads;
            return Task.CompletedTask;
        }

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
