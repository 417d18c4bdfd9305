using System.Globalization;
using System.Text.Json;
using GruService.Api.Json;
using GruService.Api.Models;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Options;

namespace GruService.Api.Training;

/// <summary>
/// Job records in SQLite at <c>ROOT/jobs.db</c> (write-ahead log, so the API reads while the worker writes). A record
/// is one row: its status and times as columns to query, the rest as JSON.
/// </summary>
public sealed class SqliteJobStore : IJobStore
{
    private readonly string _connectionString;
    // SQLite takes one writer at a time; serialising ours here avoids busy retries between API and worker.
    private readonly Lock _writes = new();

    public SqliteJobStore(IOptions<StorageOptions> storage)
    {
        string root = Path.GetFullPath(storage.Value.Root);
        Directory.CreateDirectory(root);
        _connectionString = new SqliteConnectionStringBuilder { DataSource = Path.Combine(root, "jobs.db"), DefaultTimeout = 30 }.ToString();
        using SqliteConnection connection = Open();
        Execute(connection, """
            PRAGMA journal_mode = WAL;
            PRAGMA synchronous = FULL;
            CREATE TABLE IF NOT EXISTS jobs (
                id TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                created_at TEXT NOT NULL,
                record TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
            """);
    }

    public void Create(TrainingJob job)
    {
        lock (_writes)
        {
            using SqliteConnection connection = Open();
            using SqliteCommand command = connection.CreateCommand();
            command.CommandText = "INSERT INTO jobs (id, status, created_at, record) VALUES ($id, $status, $created, $record)";
            command.Parameters.AddWithValue("$id", job.Id);
            command.Parameters.AddWithValue("$status", job.Status);
            command.Parameters.AddWithValue("$created", job.CreatedAt.ToString("O", CultureInfo.InvariantCulture));
            command.Parameters.AddWithValue("$record", Serialize(job));
            command.ExecuteNonQuery();
        }
    }

    public TrainingJob? Get(string id)
    {
        using SqliteConnection connection = Open();
        return Get(connection, id);
    }

    public IReadOnlyList<TrainingJob> List(string? status = null)
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = status is null
            ? "SELECT record FROM jobs ORDER BY created_at DESC, id DESC"
            : "SELECT record FROM jobs WHERE status = $status ORDER BY created_at DESC, id DESC";
        if (status is not null) command.Parameters.AddWithValue("$status", status);
        using SqliteDataReader reader = command.ExecuteReader();
        var jobs = new List<TrainingJob>();
        while (reader.Read()) jobs.Add(Deserialize(reader.GetString(0)));
        return jobs;
    }

    public TrainingJob? Update(string id, Func<TrainingJob, TrainingJob> change)
    {
        lock (_writes)
        {
            using SqliteConnection connection = Open();
            using SqliteTransaction transaction = connection.BeginTransaction();
            TrainingJob? current = Get(connection, id);
            if (current is null) return null;
            TrainingJob updated = change(current);
            using SqliteCommand command = connection.CreateCommand();
            command.Transaction = transaction;
            command.CommandText = "UPDATE jobs SET status = $status, record = $record WHERE id = $id";
            command.Parameters.AddWithValue("$id", id);
            command.Parameters.AddWithValue("$status", updated.Status);
            command.Parameters.AddWithValue("$record", Serialize(updated));
            command.ExecuteNonQuery();
            transaction.Commit();
            return updated;
        }
    }

    public bool Delete(string id)
    {
        lock (_writes)
        {
            using SqliteConnection connection = Open();
            using SqliteCommand command = connection.CreateCommand();
            command.CommandText = "DELETE FROM jobs WHERE id = $id";
            command.Parameters.AddWithValue("$id", id);
            return command.ExecuteNonQuery() > 0;
        }
    }

    public IReadOnlyDictionary<string, long> CountByStatus()
    {
        using SqliteConnection connection = Open();
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT status, COUNT(*) FROM jobs GROUP BY status";
        using SqliteDataReader reader = command.ExecuteReader();
        var counts = JobStatus.All.ToDictionary(s => s, _ => 0L);
        while (reader.Read()) counts[reader.GetString(0)] = reader.GetInt64(1);
        return counts;
    }

    private static TrainingJob? Get(SqliteConnection connection, string id)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = "SELECT record FROM jobs WHERE id = $id";
        command.Parameters.AddWithValue("$id", id);
        return command.ExecuteScalar() is string record ? Deserialize(record) : null;
    }

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        return connection;
    }

    private static void Execute(SqliteConnection connection, string sql)
    {
        using SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static string Serialize(TrainingJob job) => JsonSerializer.Serialize(job, GruJsonContext.Default.TrainingJob);

    private static TrainingJob Deserialize(string record) =>
        JsonSerializer.Deserialize(record, GruJsonContext.Default.TrainingJob) ?? throw new InvalidDataException("A job record is empty.");
}
