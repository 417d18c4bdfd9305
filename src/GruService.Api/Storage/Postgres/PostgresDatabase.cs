using GruService.Api.Models;
using Microsoft.Extensions.Options;
using Npgsql;

namespace GruService.Api.Storage.Postgres;

/// <summary>
/// The shared PostgreSQL database: a pooled data source whose connections are handed out only once the schema is
/// in place, and the one place where a database outage becomes a <see cref="StorageUnavailableException"/> (503).
/// </summary>
public sealed partial class PostgresDatabase : IDisposable, IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly ILogger<PostgresDatabase> _logger;
    private readonly Lock _schemaLock = new();
    private volatile bool _schemaReady;

    public PostgresDatabase(IOptions<StorageOptions> options, ILogger<PostgresDatabase> logger)
    {
        _logger = logger;
        Options = options.Value.Postgres;
        var connection = new NpgsqlConnectionStringBuilder(Options.ConnectionString);
        // Names the replica's sessions in pg_stat_activity unless the operator chose a name.
        if (string.IsNullOrEmpty(connection.ApplicationName)) connection.ApplicationName = $"gruservice@{Environment.MachineName}";
        _dataSource = NpgsqlDataSource.Create(connection.ConnectionString);
    }

    public PostgresStorageOptions Options { get; }

    /// <summary>An open connection from the pool (migrating the schema first, once per process).</summary>
    public NpgsqlConnection Open()
    {
        try
        {
            EnsureSchema();
            return _dataSource.OpenConnection();
        }
        catch (NpgsqlException e) when (IsOutage(e))
        {
            throw Unavailable(e);
        }
    }

    /// <inheritdoc cref="Open"/>
    public async Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken)
    {
        try
        {
            if (!_schemaReady) await Task.Run(EnsureSchema, cancellationToken);
            return await _dataSource.OpenConnectionAsync(cancellationToken);
        }
        catch (NpgsqlException e) when (IsOutage(e))
        {
            throw Unavailable(e);
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> on a pooled connection; an outage becomes <see cref="StorageUnavailableException"/>.
    /// Synchronous, for the one caller that cannot wait asynchronously: an observable gauge's callback.
    /// </summary>
    public T Run<T>(Func<NpgsqlConnection, T> work)
    {
        using NpgsqlConnection connection = Open();
        try
        {
            return work(connection);
        }
        catch (NpgsqlException e) when (IsOutage(e))
        {
            throw Unavailable(e);
        }
    }

    /// <summary>Runs <paramref name="work"/> on a pooled connection; an outage becomes <see cref="StorageUnavailableException"/>.</summary>
    public async Task<T> RunAsync<T>(Func<NpgsqlConnection, Task<T>> work, CancellationToken cancellationToken)
    {
        await using NpgsqlConnection connection = await OpenAsync(cancellationToken);
        try
        {
            return await work(connection);
        }
        catch (NpgsqlException e) when (IsOutage(e))
        {
            throw Unavailable(e);
        }
    }

    /// <summary>Runs <paramref name="work"/> in one transaction, committed when it returns; an outage becomes <see cref="StorageUnavailableException"/>.</summary>
    public Task<T> InTransactionAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, Task<T>> work, CancellationToken cancellationToken) =>
        RunAsync(async connection =>
        {
            await using NpgsqlTransaction transaction = await connection.BeginTransactionAsync(cancellationToken);
            T result = await work(connection, transaction);
            await transaction.CommitAsync(cancellationToken);
            return result;
        }, cancellationToken);

    /// <summary>
    /// A failure of the database rather than of the statement: it cannot be reached, is shutting down, is out of
    /// resources, or the transaction lost a race it may win when retried. A statement the server rejects for what it
    /// is (a bug) stays a 500.
    /// </summary>
    public static bool IsOutage(NpgsqlException e) => e is not PostgresException || e.IsTransient
        || ((PostgresException)e).SqlState.StartsWith("08", StringComparison.Ordinal) || ((PostgresException)e).SqlState == PostgresErrorCodes.ReadOnlySqlTransaction;

    public static StorageUnavailableException Unavailable(NpgsqlException e) =>
        e is PostgresException { SqlState: PostgresErrorCodes.DiskFull }
            ? new StorageUnavailableException($"The database is out of disk space: {e.Message}", full: true, e)
            : new StorageUnavailableException($"The database is unavailable: {e.Message}", full: false, e);

    /// <summary>
    /// Creates or migrates the schema. Replicas starting together serialise on an advisory lock held for the
    /// migration's transaction, so exactly one applies each step and the others then find it applied.
    /// </summary>
    private void EnsureSchema()
    {
        if (_schemaReady) return;
        lock (_schemaLock)
        {
            if (_schemaReady) return;
            using NpgsqlConnection connection = _dataSource.OpenConnection();
            using NpgsqlTransaction transaction = connection.BeginTransaction();
            Execute(connection, $"SELECT pg_advisory_xact_lock({PostgresSchema.MigrationLockKey})");
            Execute(connection, "CREATE TABLE IF NOT EXISTS schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())");
            using (var read = new NpgsqlCommand("SELECT coalesce(max(version), 0) FROM schema_version", connection))
            {
                int current = (int)read.ExecuteScalar()!;
                if (current > PostgresSchema.Migrations.Count) LogNewerSchema(current, PostgresSchema.Migrations.Count);
                for (int version = current + 1; version <= PostgresSchema.Migrations.Count; version++)
                {
                    Execute(connection, PostgresSchema.Migrations[version - 1]);
                    using var record = new NpgsqlCommand("INSERT INTO schema_version (version) VALUES ($1)", connection) { Parameters = { new() { Value = version } } };
                    record.ExecuteNonQuery();
                    LogMigrated(version);
                }
            }
            transaction.Commit();
            _schemaReady = true;
        }
    }

    private static void Execute(NpgsqlConnection connection, string sql)
    {
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    public void Dispose() => _dataSource.Dispose();

    [LoggerMessage(LogLevel.Information, "Migrated the database schema to version {Version}")]
    private partial void LogMigrated(int version);

    [LoggerMessage(LogLevel.Warning, "The database schema is at version {Version}, newer than this build's {Known}; a newer release migrated it")]
    private partial void LogNewerSchema(int version, int known);
}
