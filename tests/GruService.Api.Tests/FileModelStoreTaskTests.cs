using System.Security.Cryptography;
using GruService.Api.Models;
using GruService.Engine;
using Microsoft.Extensions.Options;

namespace GruService.Api.Tests;

/// <summary>The File provider keeps every version of a model to one task by itself, whoever calls it.</summary>
public sealed class FileModelStoreTaskTests : IDisposable
{
    private static readonly ReferenceModel Forecaster = ReferenceModel.Load(8), Classifier = ReferenceModel.Load(5);
    private readonly string _root = Directory.CreateTempSubdirectory("gru-store-task-tests-").FullName;
    private readonly FileModelStore _store;

    public FileModelStoreTaskTests() => _store = new FileModelStore(Options.Create(new StorageOptions { Root = _root }));

    public void Dispose() => Directory.Delete(_root, recursive: true);

    internal static GruTask TaskOf(ReferenceModel model) => GruTaskNames.Parse(model.Task)!.Value;

    internal static string Sha(ReferenceModel model) => Convert.ToHexStringLower(SHA256.HashData(model.File));

    private string ModelDirectory(string name) => Path.Combine(_root, "models", name);

    /// <summary>The model's file written to a staging file of <paramref name="store"/>, as an upload leaves it.</summary>
    internal static string Stage(IModelStore store, ReferenceModel model)
    {
        using Stream staging = store.CreateStagingFile(out string path);
        staging.Write(model.File);
        return path;
    }

    private string Stage(ReferenceModel model) => Stage(_store, model);

    /// <summary>An earlier release's layout: versions 1, 2, ... and the active pointer, no task file.</summary>
    private async Task WriteEarlierReleaseModelAsync(string name, int active, params ReferenceModel[] versions)
    {
        Directory.CreateDirectory(ModelDirectory(name));
        for (int i = 0; i < versions.Length; i++)
            await File.WriteAllBytesAsync(Path.Combine(ModelDirectory(name), $"{i + 1}.safetensors"), versions[i].File);
        await File.WriteAllTextAsync(Path.Combine(ModelDirectory(name), "active"), active.ToString(System.Globalization.CultureInfo.InvariantCulture));
    }

    /// <summary>Every file under the model's directory with a hash of its contents.</summary>
    private Dictionary<string, string> Snapshot(string name) => Directory.EnumerateFiles(ModelDirectory(name))
        .ToDictionary(path => Path.GetFileName(path), path => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path))));

    [Fact]
    public async Task ConcurrentAddsOfBothTasksToANewName_StoreOnlyTheFirstAddsTask_AndRefuseTheOthersLeavingNothing()
    {
        ReferenceModel[] files = [.. Enumerable.Range(0, 8).Select(i => i % 2 == 0 ? Forecaster : Classifier)];
        string[] staged = [.. files.Select(Stage)];

        var outcomes = await Task.WhenAll(files.Select((file, i) => Task.Run(async () =>
        {
            try
            {
                return (Added: (StoredVersion?)await _store.AddVersionAsync("raced", TaskOf(file), staged[i], Sha(file), CancellationToken.None), Refused: false);
            }
            catch (ModelTaskConflictException)
            {
                return (Added: null, Refused: true);
            }
        })));

        IReadOnlyList<StoredVersion> versions = await _store.ListVersionsAsync("raced", CancellationToken.None);
        ReferenceModel winner = versions[0].Sha256 == Sha(Forecaster) ? Forecaster : Classifier;
        Assert.All(versions, v => Assert.Equal(Sha(winner), v.Sha256));
        Assert.Equal([1, 2, 3, 4], versions.Select(v => v.Version));
        for (int i = 0; i < files.Length; i++)
        {
            Assert.Equal(files[i] != winner, outcomes[i].Refused);
            // A refused add leaves its staging file to the caller and nothing in the model's directory.
            Assert.Equal(files[i] != winner, File.Exists(staged[i]));
        }
        Assert.Equal(["1.json", "1.safetensors", "2.json", "2.safetensors", "3.json", "3.safetensors", "4.json", "4.safetensors", "task"],
            Snapshot("raced").Keys.Order(StringComparer.Ordinal));
        Assert.Equal(winner.Task, File.ReadAllText(Path.Combine(ModelDirectory("raced"), "task")));
    }

    [Fact]
    public async Task AddOfTheOtherTask_IsRefused_AndLeavesTheModelsFilesUnchanged()
    {
        await _store.AddVersionAsync("demand", TaskOf(Forecaster), Stage(Forecaster), Sha(Forecaster), CancellationToken.None);
        await _store.SetActiveVersionAsync("demand", 1, TaskOf(Forecaster), CancellationToken.None);
        Dictionary<string, string> before = Snapshot("demand");
        string staged = Stage(Classifier);

        var refused = await Assert.ThrowsAsync<ModelTaskConflictException>(() =>
            _store.AddVersionAsync("demand", TaskOf(Classifier), staged, Sha(Classifier), CancellationToken.None));

        Assert.Contains("'demand' is a forecast model, so a classify model cannot be a version of it", refused.Message);
        Assert.Equal(before, Snapshot("demand"));
        Assert.True(File.Exists(staged));
        // Deleted, the name is free for the other task.
        Assert.True(await _store.DeleteAsync("demand", CancellationToken.None));
        Assert.Equal(1, (await _store.AddVersionAsync("demand", TaskOf(Classifier), staged, Sha(Classifier), CancellationToken.None)).Version);
    }

    [Fact]
    public async Task ActivatingAVersionOfTheOtherTask_IsRefused_AndLeavesTheActivePointerUnchanged()
    {
        await _store.AddVersionAsync("demand", TaskOf(Forecaster), Stage(Forecaster), Sha(Forecaster), CancellationToken.None);
        await _store.SetActiveVersionAsync("demand", 1, TaskOf(Forecaster), CancellationToken.None);
        // Only a store written before the rule, or by hand, holds a version of the other task.
        await File.WriteAllBytesAsync(Path.Combine(ModelDirectory("demand"), "2.safetensors"), Classifier.File);
        Dictionary<string, string> before = Snapshot("demand");

        var refused = await Assert.ThrowsAsync<ModelTaskConflictException>(() =>
            _store.SetActiveVersionAsync("demand", 2, TaskOf(Classifier), CancellationToken.None));

        Assert.Contains("'demand' is a forecast model, so a classify model cannot be a version of it", refused.Message);
        Assert.Equal(before, Snapshot("demand"));
        Assert.Equal(1, await _store.GetActiveVersionAsync("demand", CancellationToken.None));
    }

    [Fact]
    public async Task ModelStoredBeforeTaskFiles_RefusesActivatingTheOtherTaskThanItsActiveVersions()
    {
        await WriteEarlierReleaseModelAsync("old", active: 1, Forecaster, Classifier, Forecaster);

        await Assert.ThrowsAsync<ModelTaskConflictException>(() => _store.SetActiveVersionAsync("old", 2, TaskOf(Classifier), CancellationToken.None));
        Assert.Equal(1, await _store.GetActiveVersionAsync("old", CancellationToken.None));

        await _store.SetActiveVersionAsync("old", 3, TaskOf(Forecaster), CancellationToken.None);
        Assert.Equal(3, await _store.GetActiveVersionAsync("old", CancellationToken.None));
    }

    [Fact]
    public async Task ModelStoredBeforeTaskFiles_TakesItsTaskFromItsActiveVersion()
    {
        // Version 2 is of the other task than version 1 (the rule was only the registry's then); the active one decides.
        await WriteEarlierReleaseModelAsync("old", active: 2, Forecaster, Classifier);
        Dictionary<string, string> before = Snapshot("old");

        await Assert.ThrowsAsync<ModelTaskConflictException>(() =>
            _store.AddVersionAsync("old", TaskOf(Forecaster), Stage(Forecaster), Sha(Forecaster), CancellationToken.None));
        Assert.Equal(before, Snapshot("old"));

        Assert.Equal(3, (await _store.AddVersionAsync("old", TaskOf(Classifier), Stage(Classifier), Sha(Classifier), CancellationToken.None)).Version);
        Assert.Equal("classify", File.ReadAllText(Path.Combine(ModelDirectory("old"), "task")));
    }

    [Fact]
    public async Task ModelStoredBeforeTaskFiles_WhoseVersionCannotBeRead_TakesTheTaskOfTheNextVersionStored()
    {
        Directory.CreateDirectory(ModelDirectory("damaged"));
        await File.WriteAllBytesAsync(Path.Combine(ModelDirectory("damaged"), "1.safetensors"), [8, 0, 0, 0, 0, 0, 0, 0, (byte)'{', (byte)'}']);

        Assert.Equal(2, (await _store.AddVersionAsync("damaged", TaskOf(Classifier), Stage(Classifier), Sha(Classifier), CancellationToken.None)).Version);

        Assert.Equal("classify", File.ReadAllText(Path.Combine(ModelDirectory("damaged"), "task")));
        await Assert.ThrowsAsync<ModelTaskConflictException>(() =>
            _store.AddVersionAsync("damaged", TaskOf(Forecaster), Stage(Forecaster), Sha(Forecaster), CancellationToken.None));
    }
}
