using GruService.Api.Models;
using GruService.Api.Storage.Postgres;
using static GruService.Api.Tests.FileModelStoreTaskTests;
using static GruService.Api.Tests.Postgres.PostgresModelTaskTests;

namespace GruService.Api.Tests.Postgres;

/// <summary>The PostgreSQL store stores an upload of the active version's file as nothing, atomically across replicas.</summary>
[Collection(PostgresCollection.Name)]
public sealed class PostgresModelUploadTests(PostgresFixture postgres) : IDisposable
{
    private static readonly ReferenceModel Forecaster = ReferenceModel.Load(8), OtherForecaster = ReferenceModel.Load(18);
    private readonly string _staging = Directory.CreateTempSubdirectory("gru-postgres-upload-tests-").FullName;
    private readonly List<PostgresDatabase> _databases = [];

    public void Dispose()
    {
        foreach (PostgresDatabase database in _databases) database.Dispose();
        Directory.Delete(_staging, recursive: true);
    }

    private PostgresModelStore Replica(string connectionString) => OpenReplica(connectionString, _staging, _databases);

    private static Task<StoredUpload> UploadAsync(IModelStore store, string name, ReferenceModel model, string? staged = null) =>
        store.AddActiveVersionAsync(name, TaskOf(model), staged ?? Stage(store, model), Sha(model), CancellationToken.None);

    [Fact]
    public async Task AddActiveVersion_OfTheActiveVersionsFile_ThroughEitherReplica_ChangesNothing_AndCountsNoChange()
    {
        string connectionString = await postgres.CreateDatabaseAsync();
        PostgresModelStore first = Replica(connectionString), second = Replica(connectionString);
        StoredVersion stored = (await UploadAsync(first, "demand", Forecaster)).Version;
        string before = await SnapshotAsync(connectionString);

        foreach (PostgresModelStore replica in (PostgresModelStore[])[first, second])
        {
            string staged = Stage(replica, Forecaster);
            StoredUpload again = await UploadAsync(replica, "demand", Forecaster, staged);

            Assert.False(again.Added);
            Assert.Equal(stored.Version, again.Version.Version);
            Assert.Equal(stored.Sha256, again.Version.Sha256);
            Assert.True(File.Exists(staged)); // left to the caller
        }
        Assert.Equal(before, await SnapshotAsync(connectionString));
    }

    [Fact]
    public async Task AddActiveVersion_OfAnotherFile_StoresAndActivatesTheNextVersion_EvenWhenAnOlderVersionIsThatFile()
    {
        string connectionString = await postgres.CreateDatabaseAsync();
        PostgresModelStore store = Replica(connectionString);
        Assert.True((await UploadAsync(store, "demand", Forecaster)).Added);
        Assert.True((await UploadAsync(store, "demand", OtherForecaster)).Added);

        StoredUpload third = await UploadAsync(store, "demand", Forecaster);

        Assert.True(third.Added);
        Assert.Equal(3, third.Version.Version);
        Assert.Equal(3, await store.GetActiveVersionAsync("demand", CancellationToken.None));
        Assert.Equal("forecast", (await SnapshotAsync(connectionString)).Split('|')[0].Split(':')[3]);
    }

    [Fact]
    public async Task ConcurrentAddsOfOneFileThroughTwoReplicas_ToANewName_StoreOneActiveVersion()
    {
        string connectionString = await postgres.CreateDatabaseAsync();
        PostgresModelStore[] replicas = [Replica(connectionString), Replica(connectionString)];
        IModelStore[] through = [.. Enumerable.Range(0, 8).Select(i => replicas[i % 2])];
        string[] staged = [.. through.Select(store => Stage(store, Forecaster))];

        StoredUpload[] uploads = await Task.WhenAll(through.Select((store, i) => Task.Run(() => UploadAsync(store, "raced", Forecaster, staged[i]))));

        Assert.Single(uploads, u => u.Added);
        Assert.All(uploads, u => Assert.Equal(1, u.Version.Version));
        Assert.Equal([1], (await replicas[1].ListVersionsAsync("raced", CancellationToken.None)).Select(v => v.Version));
        Assert.Equal(1, await replicas[0].GetActiveVersionAsync("raced", CancellationToken.None));
        Assert.Equal(7, staged.Count(File.Exists));
    }
}
