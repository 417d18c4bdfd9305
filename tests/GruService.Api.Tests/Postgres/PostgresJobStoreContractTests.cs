using GruService.Api.Models;
using GruService.Api.Storage.Postgres;
using GruService.Api.Tests.Training;
using GruService.Api.Training;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace GruService.Api.Tests.Postgres;

/// <summary>The job store's contract (<see cref="JobStoreContractTests"/>) on PostgreSQL, each test in a database of its own.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresJobStoreContractTests(PostgresFixture postgres) : JobStoreContractTests, IDisposable
{
    private readonly List<PostgresDatabase> _databases = [];

    protected override async Task<IJobStore> CreateStoreAsync()
    {
        var database = new PostgresDatabase(Options.Create(new StorageOptions
        {
            Provider = StorageProvider.Postgres,
            Postgres = new PostgresStorageOptions { ConnectionString = await postgres.CreateDatabaseAsync() },
        }), NullLogger<PostgresDatabase>.Instance);
        _databases.Add(database);
        return new PostgresJobStore(database);
    }

    public void Dispose()
    {
        foreach (PostgresDatabase database in _databases) database.Dispose();
    }
}
