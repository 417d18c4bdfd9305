using System.Security.Cryptography;
using GruService.Api.Models;
using Microsoft.Extensions.Options;
using static GruService.Api.Tests.FileModelStoreTaskTests;

namespace GruService.Api.Tests;

/// <summary>The File provider stores an upload of the active version's file as nothing, atomically, whoever calls it.</summary>
public sealed class FileModelStoreUploadTests : IDisposable
{
    private static readonly ReferenceModel Forecaster = ReferenceModel.Load(8), OtherForecaster = ReferenceModel.Load(18);
    private readonly string _root = Directory.CreateTempSubdirectory("gru-store-upload-tests-").FullName;
    private readonly FileModelStore _store;

    public FileModelStoreUploadTests() => _store = new FileModelStore(Options.Create(new StorageOptions { Root = _root }));

    public void Dispose() => Directory.Delete(_root, recursive: true);

    private string ModelDirectory(string name) => Path.Combine(_root, "models", name);

    private string Stage(ReferenceModel model) => FileModelStoreTaskTests.Stage(_store, model);

    private Task<StoredUpload> UploadAsync(string name, ReferenceModel model, string? staged = null) =>
        _store.AddActiveVersionAsync(name, TaskOf(model), staged ?? Stage(model), Sha(model), CancellationToken.None);

    /// <summary>Every file under the model's directory with a hash of its contents and its time of last write.</summary>
    private Dictionary<string, (string, DateTime)> Snapshot(string name) => Directory.EnumerateFiles(ModelDirectory(name))
        .ToDictionary(path => Path.GetFileName(path), path => (Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))), File.GetLastWriteTimeUtc(path)));

    [Fact]
    public async Task AddActiveVersion_OfTheActiveVersionsFile_ReturnsIt_ChangesNoFile_AndLeavesTheStagingFileToTheCaller()
    {
        StoredVersion first = (await UploadAsync("demand", Forecaster)).Version;
        Dictionary<string, (string, DateTime)> before = Snapshot("demand");
        string staged = Stage(Forecaster);

        StoredUpload again = await UploadAsync("demand", Forecaster, staged);

        Assert.False(again.Added);
        Assert.Equal(first, again.Version);
        Assert.Equal(before, Snapshot("demand"));
        Assert.True(File.Exists(staged));
    }

    [Fact]
    public async Task AddActiveVersion_OfAnotherFile_StoresAndActivatesTheNextVersion_EvenWhenAnOlderVersionIsThatFile()
    {
        Assert.True((await UploadAsync("demand", Forecaster)).Added);
        Assert.True((await UploadAsync("demand", OtherForecaster)).Added);

        StoredUpload third = await UploadAsync("demand", Forecaster);

        Assert.True(third.Added);
        Assert.Equal(3, third.Version.Version);
        Assert.Equal(3, await _store.GetActiveVersionAsync("demand", CancellationToken.None));
    }

    [Fact]
    public async Task ConcurrentAddsOfOneFileToANewName_StoreOneActiveVersion()
    {
        for (int round = 0; round < 20; round++)
        {
            string name = $"raced-{round}";
            string[] staged = [.. Enumerable.Range(0, 8).Select(_ => Stage(Forecaster))];
            var start = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

            Task<StoredUpload>[] racing = [.. staged.Select(path => Task.Run(async () =>
            {
                await start.Task;
                return await UploadAsync(name, Forecaster, path);
            }))];
            start.SetResult();
            StoredUpload[] uploads = await Task.WhenAll(racing);

            Assert.Single(uploads, u => u.Added);
            Assert.All(uploads, u => Assert.Equal(1, u.Version.Version));
            Assert.Equal([1], (await _store.ListVersionsAsync(name, CancellationToken.None)).Select(v => v.Version));
            Assert.Equal(1, await _store.GetActiveVersionAsync(name, CancellationToken.None));
            Assert.Equal(7, staged.Count(File.Exists));
        }
    }

    [Fact]
    public async Task AVersionWhoseRecordHasNoHash_IsComparedByHashingItsFile()
    {
        await UploadAsync("demand", Forecaster);
        string record = Path.Combine(ModelDirectory("demand"), "1.json");
        await File.WriteAllTextAsync(record, (await File.ReadAllTextAsync(record)).Replace($"\"sha256\":\"{Sha(Forecaster)}\",", ""));
        Assert.DoesNotContain("sha256", await File.ReadAllTextAsync(record));

        StoredUpload again = await UploadAsync("demand", Forecaster);

        Assert.False(again.Added);
        Assert.Single(await _store.ListVersionsAsync("demand", CancellationToken.None));
    }

    [Fact]
    public async Task AVersionStoredWithoutARecord_IsComparedByTheHashRebuiltFromItsFile()
    {
        // An earlier release's layout with the record missing (a crash between the two writes, or by hand).
        Directory.CreateDirectory(ModelDirectory("old"));
        await File.WriteAllBytesAsync(Path.Combine(ModelDirectory("old"), "1.safetensors"), Forecaster.File);
        await File.WriteAllTextAsync(Path.Combine(ModelDirectory("old"), "active"), "1");

        Assert.False((await UploadAsync("old", Forecaster)).Added);
        Assert.True((await UploadAsync("old", OtherForecaster)).Added);
    }
}
