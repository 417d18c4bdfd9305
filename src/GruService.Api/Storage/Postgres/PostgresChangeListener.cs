using GruService.Api.Models;
using GruService.Api.Training;
using Microsoft.Extensions.Options;
using Npgsql;

namespace GruService.Api.Storage.Postgres;

/// <summary>
/// Keeps this replica in step with the others through the shared database (Storage:Provider=Postgres only; with
/// File storage it does nothing). One connection LISTENs: a model change makes the registry load what is now
/// active, a queued job wakes this replica's workers, and a cancel request stops the job if it runs here. Because
/// a notification can be missed (the connection drops, or a pooler in between does not pass them on), the
/// model_changes counter is also polled every Storage:Postgres:PollSeconds, and workers look for jobs as often.
/// </summary>
public sealed partial class PostgresChangeListener(
    IOptions<StorageOptions> storage,
    IServiceProvider services,
    ModelRegistry registry,
    TrainingJobSignal jobSignal,
    ILogger<PostgresChangeListener> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (storage.Value.Provider != StorageProvider.Postgres) return;
        var database = services.GetRequiredService<PostgresDatabase>();
        // Resolved here, not injected: the worker is itself a hosted service that depends on the stores.
        var worker = services.GetRequiredService<TrainingWorker>();
        TimeSpan poll = TimeSpan.FromSeconds(database.Options.PollSeconds);
        long? seen = null;
        while (!stoppingToken.IsCancellationRequested)
        {
            try
            {
                await using NpgsqlConnection connection = await database.OpenAsync(stoppingToken);
                connection.Notification += (_, e) =>
                {
                    if (e.Channel == PostgresSchema.JobQueuedChannel) jobSignal.JobQueued();
                    else if (e.Channel == PostgresSchema.JobCancelChannel) worker.CancelRunning(e.Payload);
                };
                await using (var listen = new NpgsqlCommand(
                    $"LISTEN {PostgresSchema.ModelChangesChannel}; LISTEN {PostgresSchema.JobQueuedChannel}; LISTEN {PostgresSchema.JobCancelChannel}", connection))
                    await listen.ExecuteNonQueryAsync(stoppingToken);
                while (true)
                {
                    // Read before syncing: a change committed during the sync bumps the counter past this value again.
                    long counter = await ReadCounterAsync(connection, stoppingToken);
                    if (counter != seen && registry.IsLoaded)
                    {
                        await registry.SyncWithStoreAsync(stoppingToken);
                        seen = counter;
                    }
                    // Returns early when a notification arrives; the handler above has run by then.
                    await connection.WaitAsync(poll, stoppingToken);
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is NpgsqlException or IOException)
            {
                LogConnectionLost(e.Message, poll.TotalSeconds);
                await Task.Delay(poll, stoppingToken);
            }
        }
    }

    private static async Task<long> ReadCounterAsync(NpgsqlConnection connection, CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand("SELECT counter FROM model_changes", connection);
        return (long)(await command.ExecuteScalarAsync(cancellationToken))!;
    }

    [LoggerMessage(LogLevel.Warning, "Lost the database connection that listens for other replicas' changes ({Reason}); reconnecting in {Seconds} s")]
    private partial void LogConnectionLost(string reason, double seconds);
}
