using System.Diagnostics;
using Npgsql;

namespace GruService.Api.Tests.Postgres;

/// <summary>The tests that need a PostgreSQL server share one throwaway cluster, each test in a database of its own.</summary>
[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "PostgreSQL";
}

/// <summary>
/// A throwaway PostgreSQL cluster: initdb into a temporary directory, started with pg_ctl on a free loopback port
/// (its unix socket in that directory too), stopped and removed at the end. The server refuses to run as root, so
/// under root it runs as the postgres user. Missing binaries fail the tests, saying how to install them: a suite
/// that silently skipped its database tests would pass without testing them.
/// </summary>
public sealed class PostgresFixture : IAsyncLifetime
{
    private const string Superuser = "gru";
    private readonly string _directory = Directory.CreateTempSubdirectory("gru-postgres-").FullName;
    private string _binaries = "";
    private int _databases;

    public int Port { get; private set; }

    private string DataDirectory => Path.Combine(_directory, "data");

    public async Task InitializeAsync()
    {
        _binaries = FindBinaries() ?? throw new InvalidOperationException(
            "The PostgreSQL server binaries (initdb, pg_ctl) were not found under /usr/lib/postgresql/*/bin or on PATH. "
            + "Run scripts/install-test-deps.sh (it installs the apt package postgresql) and run the tests again.");
        if (IsRoot)
        {
            // The server's files must belong to the account it runs as.
            await RunAsync("chown", ["-R", "postgres:postgres", _directory], asServerUser: false);
        }
        await RunAsync(Path.Combine(_binaries, "initdb"),
            ["-D", DataDirectory, "-U", Superuser, "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync"], asServerUser: true);
        for (int attempt = 1; ; attempt++)
        {
            Port = ServiceProcess.FreePort();
            try
            {
                await RunAsync(Path.Combine(_binaries, "pg_ctl"),
                [
                    "-D", DataDirectory, "-l", Path.Combine(_directory, "server.log"), "-w", "-t", "60", "start",
                    // Durability is not under test; fsync off keeps a test database fast.
                    "-o", $"-p {Port} -k {_directory} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
                ], asServerUser: true);
                return;
            }
            catch (InvalidOperationException) when (attempt < 3)
            {
                // Another process took the port between choosing and binding it.
            }
        }
    }

    /// <summary>A connection string to a new, empty database; <paramref name="user"/> picks the role (created as a superuser when new).</summary>
    public async Task<string> CreateDatabaseAsync(string? user = null)
    {
        string database = $"test_{Interlocked.Increment(ref _databases)}_{Guid.NewGuid():N}"[..24];
        await using (var connection = new NpgsqlConnection(ConnectionString("postgres")))
        {
            await connection.OpenAsync();
            await using var create = new NpgsqlCommand($"CREATE DATABASE {database}", connection);
            await create.ExecuteNonQueryAsync();
        }
        return ConnectionString(database, user);
    }

    /// <summary>Creates a login role that can do everything, for a replica the test will later cut off by its role.</summary>
    public async Task CreateRoleAsync(string role)
    {
        await ExecuteAsync($"CREATE ROLE {role} LOGIN SUPERUSER");
    }

    /// <summary>
    /// Cuts every session of <paramref name="role"/> off the server and refuses it new ones: to the replica using the
    /// role, the database is gone, as it would be in a network partition, and to the others the replica is dead.
    /// </summary>
    public async Task CutOffAsync(string role)
    {
        await ExecuteAsync($"ALTER ROLE {role} NOLOGIN");
        await ExecuteAsync($"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = '{role}'");
    }

    public string ConnectionString(string database, string? user = null) => new NpgsqlConnectionStringBuilder
    {
        Host = "127.0.0.1",
        Port = Port,
        Username = user ?? Superuser,
        Database = database,
        Timeout = 5,
        CommandTimeout = 30,
    }.ConnectionString;

    private async Task ExecuteAsync(string sql)
    {
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        await command.ExecuteNonQueryAsync();
    }

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        try
        {
            if (File.Exists(Path.Combine(DataDirectory, "postmaster.pid")))
                await RunAsync(Path.Combine(_binaries, "pg_ctl"), ["-D", DataDirectory, "-m", "immediate", "-w", "stop"], asServerUser: true);
        }
        finally
        {
            try { Directory.Delete(_directory, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    private static bool IsRoot => Environment.IsPrivilegedProcess;

    /// <summary>The newest installed server's bin directory (Debian keeps them under /usr/lib/postgresql/VERSION/bin), else PATH's.</summary>
    private static string? FindBinaries()
    {
        if (Directory.Exists("/usr/lib/postgresql"))
        {
            string? newest = Directory.EnumerateDirectories("/usr/lib/postgresql")
                .Select(d => Path.Combine(d, "bin"))
                .Where(bin => File.Exists(Path.Combine(bin, "initdb")) && File.Exists(Path.Combine(bin, "pg_ctl")))
                .OrderByDescending(bin => int.TryParse(Path.GetFileName(Path.GetDirectoryName(bin)), out int version) ? version : 0)
                .FirstOrDefault();
            if (newest is not null) return newest;
        }
        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")) && File.Exists(Path.Combine(d, "pg_ctl")));
    }

    private async Task RunAsync(string program, IReadOnlyList<string> arguments, bool asServerUser)
    {
        var start = new ProcessStartInfo(asServerUser && IsRoot ? "runuser" : program)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _directory,
        };
        if (asServerUser && IsRoot)
        {
            foreach (string argument in (string[])["-u", "postgres", "--", program]) start.ArgumentList.Add(argument);
        }
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"Could not start {program}.");
        // pg_ctl's server keeps the pipes open after pg_ctl exits: read to the end only what pg_ctl itself wrote.
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0)
        {
            string log = File.Exists(Path.Combine(_directory, "server.log")) ? await File.ReadAllTextAsync(Path.Combine(_directory, "server.log")) : "";
            throw new InvalidOperationException(
                $"{program} {string.Join(' ', arguments)} failed with exit code {process.ExitCode}:\n{await WithinAsync(error)}\n{await WithinAsync(output)}\n{log}");
        }
    }

    private static async Task<string> WithinAsync(Task<string> text) =>
        await Task.WhenAny(text, Task.Delay(1000)) == text ? await text : "";
}
