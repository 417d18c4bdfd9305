namespace GruService.Api.Training;

public static class TrainingExtensions
{
    public static IServiceCollection AddTrainingJobs(this IServiceCollection services)
    {
        services.AddOptions<TrainingJobOptions>()
            .BindConfiguration(TrainingJobOptions.Section)
            .ValidateDataAnnotations()
            .ValidateOnStart();
        services.AddSingleton<TrainingJobSignal>();
        services.AddSingleton<TrainingMetrics>();
        services.AddSingleton<TrainingWorker>();
        services.AddHostedService(provider => provider.GetRequiredService<TrainingWorker>());
        return services;
    }
}
