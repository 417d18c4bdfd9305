using GruService.Api.Models;
using GruService.Api.Storage.Postgres;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Npgsql;
using static GruService.Api.Tests.FileModelStoreTaskTests;

namespace GruService.Api.Tests.Postgres;

/// <summary>The PostgreSQL store keeps every version of a model to one task by itself, across replicas.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresModelTaskTests(PostgresFixture postgres) : IDisposable
{
    private static readonly ReferenceModel Forecaster = ReferenceModel.Load(8), Classifier = ReferenceModel.Load(5);
    private readonly string _staging = Directory.CreateTempSubdirectory("gru-postgres-task-tests-").FullName;
    private readonly List<PostgresDatabase> _databases = [];

    public void Dispose()
    {
        foreach (PostgresDatabase database in _databases) database.Dispose();
        Directory.Delete(_staging, recursive: true);
    }

    private PostgresModelStore Replica(string connectionString) => OpenReplica(connectionString, _staging, _databases);

    /// <summary>What a replica's store is: its own connection pool on the shared database, staging under <paramref name="root"/>; the pool joins <paramref name="opened"/>, for the caller to dispose.</summary>
    internal static PostgresModelStore OpenReplica(string connectionString, string root, List<PostgresDatabase> opened)
    {
        IOptions<StorageOptions> options = Options.Create(new StorageOptions
        {
            Provider = StorageProvider.Postgres,
            Root = root,
            Postgres = new PostgresStorageOptions { ConnectionString = connectionString },
        });
        var database = new PostgresDatabase(options, NullLogger<PostgresDatabase>.Instance);
        opened.Add(database);
        return new PostgresModelStore(database, options);
    }

    /// <summary>Every model row, every version's number and hash, and the change counter, as one string.</summary>
    internal static async Task<string> SnapshotAsync(string connectionString)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("""
            SELECT coalesce((SELECT string_agg(concat_ws(':', name, active_version, last_version, task), ',' ORDER BY name) FROM models), '')
                || '|' || coalesce((SELECT string_agg(concat_ws(':', name, version, sha256), ',' ORDER BY name, version) FROM model_versions), '')
                || '|' || (SELECT counter FROM model_changes)
            """, connection);
        return (string)(await command.ExecuteScalarAsync())!;
    }

    private static async Task<string?> StoredTaskAsync(string connectionString, string name)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT task FROM models WHERE name = $1", connection) { Parameters = { new() { Value = name } } };
        return await command.ExecuteScalarAsync() as string;
    }

    private static async Task<long> CountAsync(string connectionString, string table)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"SELECT count(*) FROM {table}", connection);
        return (long)(await command.ExecuteScalarAsync())!;
    }

    /// <summary>Runs one statement (or several) on its own connection, for what the store would never write itself.</summary>
    private static async Task ExecuteAsync(string connectionString, string sql, params object[] parameters)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand(sql, connection);
        foreach (object parameter in parameters) command.Parameters.Add(new NpgsqlParameter { Value = parameter });
        await command.ExecuteNonQueryAsync();
    }

    /// <summary>Stores a version without the store's checks: what a replica of an earlier release, or a hand, could leave.</summary>
    private static async Task InsertVersionByHandAsync(string connectionString, string name, int version, ReferenceModel model)
    {
        await ExecuteAsync(connectionString, "INSERT INTO model_versions (name, version, created_at, sha256, size_bytes, content) VALUES ($1, $2, now(), $3, $4, $5)",
            name, version, Sha(model), (long)model.File.Length, model.File);
        await ExecuteAsync(connectionString, "UPDATE models SET last_version = $2 WHERE name = $1", name, version);
    }

    private static ModelRegistry Registry(IModelStore store) =>
        new(store, Microsoft.Extensions.Options.Options.Create(new ModelOptions { BundledDirectory = "" }), NullLogger<ModelRegistry>.Instance);

    [Fact]
    public async Task ActivatingAVersionOfTheOtherTask_ThroughEitherReplica_IsRefused_AndLeavesTheDatabaseUnchanged()
    {
        string connectionString = await postgres.CreateDatabaseAsync();
        PostgresModelStore first = Replica(connectionString), second = Replica(connectionString);
        await first.AddVersionAsync("demand", TaskOf(Forecaster), Stage(first, Forecaster), Sha(Forecaster), CancellationToken.None);
        await first.SetActiveVersionAsync("demand", 1, TaskOf(Forecaster), CancellationToken.None);
        await InsertVersionByHandAsync(connectionString, "demand", 2, Classifier);
        string before = await SnapshotAsync(connectionString);

        foreach (PostgresModelStore replica in new[] { first, second })
        {
            var refused = await Assert.ThrowsAsync<ModelTaskConflictException>(() =>
                replica.SetActiveVersionAsync("demand", 2, TaskOf(Classifier), CancellationToken.None));
            Assert.Contains("'demand' is a forecast model, so a classify model cannot be a version of it", refused.Message);
        }

        // Active version 1 and the same change counter: no replica was told to load anything.
        Assert.Equal(before, await SnapshotAsync(connectionString));
        Assert.Equal(1, await second.GetActiveVersionAsync("demand", CancellationToken.None));
    }

    [Fact]
    public async Task ActivationByAReplicaThatDoesNotServeTheModelYet_IsRefusedByTheStore_AndTheOtherReplicaKeepsServing()
    {
        string connectionString = await postgres.CreateDatabaseAsync();
        ModelRegistry serving = Registry(Replica(connectionString)), behind = Registry(Replica(connectionString));
        // Loaded while the database was empty, and (with no change listener here) never synced since: this replica's
        // own check has nothing to compare the version with, so only the store can refuse it.
        await behind.LoadAsync(null, CancellationToken.None);
        await serving.LoadAsync(null, CancellationToken.None);
        await serving.PublishAsync("demand", Forecaster.File, activate: true, CancellationToken.None);
        await InsertVersionByHandAsync(connectionString, "demand", 2, Classifier);

        var refused = await Assert.ThrowsAsync<ModelTaskConflictException>(() => behind.ActivateAsync("demand", 2, CancellationToken.None));

        Assert.Contains("'demand' is a forecast model, so a classify model cannot be a version of it", refused.Message);
        Assert.False(behind.TryGet("demand", out _));
        await serving.SyncWithStoreAsync(CancellationToken.None);
        Assert.True(serving.TryGet("demand", out ServedModel served));
        Assert.Equal((1, Sha(Forecaster)), (served.Version, served.Stored.Sha256));
        Assert.Equal(1, await Replica(connectionString).GetActiveVersionAsync("demand", CancellationToken.None));
    }

    [Fact]
    public async Task ActivatingAVersionOfAModelWhoseTaskIsNotKnown_RecordsTheVersionsTask()
    {
        string connectionString = await postgres.CreateDatabaseAsync();
        PostgresModelStore store = Replica(connectionString);
        await store.AddVersionAsync("unknown", TaskOf(Forecaster), Stage(store, Forecaster), Sha(Forecaster), CancellationToken.None);
        await InsertVersionByHandAsync(connectionString, "unknown", 2, Classifier);
        // What migration 2 leaves for a model none of whose versions it could read.
        await ExecuteAsync(connectionString, "UPDATE models SET task = NULL WHERE name = $1", "unknown");

        await store.SetActiveVersionAsync("unknown", 2, TaskOf(Classifier), CancellationToken.None);

        Assert.Equal(2, await store.GetActiveVersionAsync("unknown", CancellationToken.None));
        Assert.Equal("classify", await StoredTaskAsync(connectionString, "unknown"));
        await Assert.ThrowsAsync<ModelTaskConflictException>(() => store.SetActiveVersionAsync("unknown", 1, TaskOf(Forecaster), CancellationToken.None));
    }

    [Fact]
    public async Task ConcurrentAddsOfBothTasksThroughTwoReplicas_StoreOnlyTheFirstAddsTask_AndRefuseTheOthersLeavingNothing()
    {
        string connectionString = await postgres.CreateDatabaseAsync();
        PostgresModelStore[] replicas = [Replica(connectionString), Replica(connectionString)];
        // Each replica adds both tasks: 0 and 3 through the first, 1 and 2 through the second.
        ReferenceModel[] files = [.. Enumerable.Range(0, 8).Select(i => i % 2 == 0 ? Forecaster : Classifier)];
        IModelStore[] through = [.. Enumerable.Range(0, 8).Select(i => replicas[(i + i / 2) % 2])];
        string[] staged = [.. files.Select((file, i) => Stage(through[i], file))];

        var outcomes = await Task.WhenAll(files.Select((file, i) => Task.Run(async () =>
        {
            try
            {
                await through[i].AddVersionAsync("raced", TaskOf(file), staged[i], Sha(file), CancellationToken.None);
                return false;
            }
            catch (ModelTaskConflictException)
            {
                return true;
            }
        })));

        IReadOnlyList<StoredVersion> versions = await replicas[1].ListVersionsAsync("raced", CancellationToken.None);
        ReferenceModel winner = versions[0].Sha256 == Sha(Forecaster) ? Forecaster : Classifier;
        Assert.All(versions, v => Assert.Equal(Sha(winner), v.Sha256));
        // The refused adds burnt no version numbers: their transactions rolled back.
        Assert.Equal([1, 2, 3, 4], versions.Select(v => v.Version));
        Assert.Equal(winner.Task, await StoredTaskAsync(connectionString, "raced"));
        for (int i = 0; i < files.Length; i++)
        {
            Assert.Equal(files[i] != winner, outcomes[i]);
            Assert.Equal(files[i] != winner, File.Exists(staged[i]));
        }
    }

    [Fact]
    public async Task AddOfTheOtherTask_IsRefused_AndLeavesTheDatabaseUnchanged()
    {
        string connectionString = await postgres.CreateDatabaseAsync();
        PostgresModelStore first = Replica(connectionString), second = Replica(connectionString);
        await first.AddVersionAsync("demand", TaskOf(Forecaster), Stage(first, Forecaster), Sha(Forecaster), CancellationToken.None);
        await first.SetActiveVersionAsync("demand", 1, TaskOf(Forecaster), CancellationToken.None);
        string before = await SnapshotAsync(connectionString);
        string staged = Stage(second, Classifier);

        var refused = await Assert.ThrowsAsync<ModelTaskConflictException>(() =>
            second.AddVersionAsync("demand", TaskOf(Classifier), staged, Sha(Classifier), CancellationToken.None));

        Assert.Contains("'demand' is a forecast model, so a classify model cannot be a version of it", refused.Message);
        Assert.Equal(before, await SnapshotAsync(connectionString));
        Assert.True(File.Exists(staged));
        // Deleted, the name is free for the other task.
        Assert.True(await first.DeleteAsync("demand", CancellationToken.None));
        Assert.Equal(1, (await second.AddVersionAsync("demand", TaskOf(Classifier), staged, Sha(Classifier), CancellationToken.None)).Version);
        Assert.Equal("classify", await StoredTaskAsync(connectionString, "demand"));
    }

    [Fact]
    public async Task MigratingADatabaseFromBeforeTheRule_RecordsEachModelsTaskFromItsVersions()
    {
        string connectionString = await postgres.CreateDatabaseAsync();
        // The schema as the first release left it, with models stored then: tasks only in the files, one model
        // holding both (the rule was only each replica's then), one version unreadable.
        await using (var connection = new NpgsqlConnection(connectionString))
        {
            await connection.OpenAsync();
            await using (var schema = new NpgsqlCommand(PostgresSchema.Migrations[0] +
                "; CREATE TABLE schema_version (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now()); INSERT INTO schema_version (version) VALUES (1)", connection))
                await schema.ExecuteNonQueryAsync();
            (string Name, int? Active, byte[][] Versions)[] models =
            [
                ("plain", 1, [Forecaster.File]),
                ("mixed", 2, [Forecaster.File, Classifier.File]),
                ("never-activated", null, [Forecaster.File, Classifier.File]),
                ("damaged", 1, [[8, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}']]),
            ];
            foreach (var (name, active, versions) in models)
            {
                await using (var row = new NpgsqlCommand("INSERT INTO models (name, active_version, last_version) VALUES ($1, $2, $3)", connection)
                {
                    Parameters = { new() { Value = name }, new() { Value = (object?)active ?? DBNull.Value }, new() { Value = versions.Length } },
                })
                    await row.ExecuteNonQueryAsync();
                for (int v = 0; v < versions.Length; v++)
                {
                    await using var version = new NpgsqlCommand(
                        "INSERT INTO model_versions (name, version, created_at, sha256, size_bytes, content) VALUES ($1, $2, now(), 'x', $3, $4)", connection)
                    {
                        Parameters = { new() { Value = name }, new() { Value = v + 1 }, new() { Value = (long)versions[v].Length }, new() { Value = versions[v] } },
                    };
                    await version.ExecuteNonQueryAsync();
                }
            }
        }

        PostgresModelStore store = Replica(connectionString);
        // Its first query migrates the schema.
        Assert.Equal(["damaged", "mixed", "never-activated", "plain"], await store.ListModelsAsync(CancellationToken.None));
        Assert.Equal(PostgresSchema.Migrations.Count, await CountAsync(connectionString, "schema_version"));
        Assert.Equal("forecast", await StoredTaskAsync(connectionString, "plain"));
        Assert.Equal("classify", await StoredTaskAsync(connectionString, "mixed"));
        Assert.Equal("classify", await StoredTaskAsync(connectionString, "never-activated"));
        Assert.Null(await StoredTaskAsync(connectionString, "damaged"));

        await Assert.ThrowsAsync<ModelTaskConflictException>(() =>
            store.AddVersionAsync("mixed", TaskOf(Forecaster), Stage(store, Forecaster), Sha(Forecaster), CancellationToken.None));
        // An unknown task is set by the next version stored, and holds from then on.
        Assert.Equal(2, (await store.AddVersionAsync("damaged", TaskOf(Forecaster), Stage(store, Forecaster), Sha(Forecaster), CancellationToken.None)).Version);
        Assert.Equal("forecast", await StoredTaskAsync(connectionString, "damaged"));
        await Assert.ThrowsAsync<ModelTaskConflictException>(() =>
            store.AddVersionAsync("damaged", TaskOf(Classifier), Stage(store, Classifier), Sha(Classifier), CancellationToken.None));
    }
}
