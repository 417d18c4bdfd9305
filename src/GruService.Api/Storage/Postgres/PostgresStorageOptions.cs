namespace GruService.Api.Storage.Postgres;

/// <summary>The "Storage:Postgres" section: the shared database and how replicas coordinate through it.</summary>
public sealed class PostgresStorageOptions
{
    /// <summary>An Npgsql connection string (Host=...;Database=...;Username=...;Password=...). Required with Storage:Provider=Postgres.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// How long a replica's claim on a running training job lasts without a heartbeat. A job whose replica died is
    /// taken over by another this long after its last heartbeat, and resumes from its last checkpoint.
    /// </summary>
    public double LeaseSeconds { get; set; } = 30;

    /// <summary>How often a replica renews the lease of each job it runs; well under <see cref="LeaseSeconds"/>.</summary>
    public double HeartbeatSeconds { get; set; } = 10;

    /// <summary>
    /// How often a replica looks for changes it was not notified of (LISTEN/NOTIFY is the fast path): newly activated
    /// model versions, queued jobs and expired leases.
    /// </summary>
    public double PollSeconds { get; set; } = 1;

    /// <summary>Dataset files are stored in rows of this many bytes, so an upload streams and no row grows large.</summary>
    public int ChunkBytes { get; set; } = 1 << 20;

    /// <summary>Why these values cannot work, or null when they can.</summary>
    public string? Problem()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
            return "Storage:Postgres:ConnectionString is required with Storage:Provider=Postgres (e.g. Host=db;Database=gru;Username=gru;Password=...).";
        try
        {
            _ = new Npgsql.NpgsqlConnectionStringBuilder(ConnectionString);
        }
        catch (ArgumentException e)
        {
            return $"Storage:Postgres:ConnectionString is not a valid Npgsql connection string: {e.Message}";
        }
        if (!(LeaseSeconds is >= 1 and <= 86_400)) return $"Storage:Postgres:LeaseSeconds is {LeaseSeconds}; it must be between 1 and 86400.";
        if (!(HeartbeatSeconds > 0 && HeartbeatSeconds <= LeaseSeconds / 2))
            return $"Storage:Postgres:HeartbeatSeconds is {HeartbeatSeconds}; it must be above 0 and at most half of LeaseSeconds ({LeaseSeconds}), so one missed heartbeat does not lose the lease.";
        if (!(PollSeconds is >= 0.05 and <= 60)) return $"Storage:Postgres:PollSeconds is {PollSeconds}; it must be between 0.05 and 60.";
        if (ChunkBytes is < 4096 or > 64 << 20) return $"Storage:Postgres:ChunkBytes is {ChunkBytes}; it must be between 4096 and 67108864.";
        return null;
    }
}
