using System.Diagnostics;
using System.Net;
using GruService.Api.Tests.Datasets;

namespace GruService.Api.Tests.StorageFaults;

/// <summary>
/// The same faults as <see cref="StorageFaultApiTests"/>, made by the kernel: a storage root on a tiny tmpfs filled
/// to the last byte, and the root's directories bind-mounted read-only. These need the right to mount (root with
/// CAP_SYS_ADMIN, as on a developer's machine or a privileged CI container) and are reported skipped, with the
/// reason, where it is missing; they also check that the decorators throw what the kernel makes .NET throw.
/// </summary>
public sealed class RealFileSystemFaultTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("gru-realfs-").FullName;
    private readonly List<string> _mounts = [];
    private readonly ReferenceModel _model = ReferenceModel.Load(12);

    [MountFact]
    public async Task FullTmpfs_AnswersUploads507_AndKeepsServing_UntilSpaceIsFreed()
    {
        Mount("-t", "tmpfs", "-o", "size=8m", "tmpfs", _root);
        using var factory = new GruServiceFactory(_root);
        HttpClient client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("kept", _model.File)).StatusCode);
        string answer = await ForecastAsync(client);

        string filler = Path.Combine(_root, "filler");
        IOException full = FillUp(filler);
        Assert.Equal(OsErrors.NoSpace, full.HResult);
        Assert.StartsWith("No space left on device", full.Message);

        string detail = await (await client.PutModelAsync("kept", ReferenceModel.Load(7).File)).AssertProblemAsync(507, "storage_full");
        Assert.Contains("No space left on device", detail);
        await (await client.PostDatasetAsync(StorageFaultApiTests.SineCsv(20_000), DatasetTestExtensions.Csv)).AssertProblemAsync(507, "storage_full");

        Assert.Equal(answer, await ForecastAsync(client));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(_root, "tmp"), "upload-*"));
        Assert.Equal(["1.json", "1.safetensors", "active", "task"], Directory.EnumerateFiles(Path.Combine(_root, "models", "kept")).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Empty(DatasetTestExtensions.DatasetEntries(_root));

        File.Delete(filler);
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("kept", ReferenceModel.Load(7).File)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PostDatasetAsync(StorageFaultApiTests.SineCsv(20_000), DatasetTestExtensions.Csv)).StatusCode);
    }

    [MountFact]
    public async Task ReadOnlyMount_AnswersUploads503_AndKeepsServing_UntilWritableAgain()
    {
        using var factory = new GruServiceFactory(_root);
        HttpClient client = await factory.ReadyClientAsync();
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("kept", _model.File)).StatusCode);
        string answer = await ForecastAsync(client);

        string[] directories = [Path.Combine(_root, "tmp"), Path.Combine(_root, "models")];
        foreach (string directory in directories)
        {
            Mount("--bind", directory, directory);
            Run("mount", "-o", "remount,bind,ro", directory);
        }
        IOException readOnly = Assert.ThrowsAny<IOException>(() => File.WriteAllText(Path.Combine(directories[0], "probe"), "x"));
        Assert.Equal(OsErrors.ReadOnlyFileSystem, readOnly.HResult);

        string detail = await (await client.PutModelAsync("kept", ReferenceModel.Load(7).File)).AssertProblemAsync(503, "storage_unavailable");
        Assert.Contains("Read-only file system", detail);
        await (await client.PostDatasetAsync(StorageFaultApiTests.SineCsv(100), DatasetTestExtensions.Csv)).AssertProblemAsync(503, "storage_unavailable");
        await (await client.PostAsync("/v1/models/kept/versions/1/activate", null)).AssertProblemAsync(503, "storage_unavailable");
        await (await client.DeleteAsync("/v1/models/kept")).AssertProblemAsync(503, "storage_unavailable");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, (await client.GetAsync("/readyz")).StatusCode);
        Assert.Equal(answer, await ForecastAsync(client));

        UnmountAll();
        Assert.Equal(HttpStatusCode.Created, (await client.PutModelAsync("kept", ReferenceModel.Load(7).File)).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await client.PostDatasetAsync(StorageFaultApiTests.SineCsv(100), DatasetTestExtensions.Csv)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/readyz")).StatusCode);
    }

    private Task<string> ForecastAsync(HttpClient client) => _model.AnswerAsync(client, "kept");

    /// <summary>Writes to <paramref name="path"/> until the file system is full; returns the error that said so.</summary>
    private static IOException FillUp(string path)
    {
        byte[] chunk = new byte[64 * 1024];
        using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, bufferSize: 0);
        try
        {
            for (int i = 0; i < 10_000; i++) stream.Write(chunk);
        }
        catch (IOException e)
        {
            return e;
        }
        throw new InvalidOperationException("The file system did not fill up.");
    }

    private void Mount(params string[] arguments)
    {
        Run("mount", arguments);
        _mounts.Add(arguments[^1]);
    }

    private void UnmountAll()
    {
        // Last mounted first; lazily, so a host still holding a file there cannot keep the mount alive.
        for (int i = _mounts.Count - 1; i >= 0; i--) Run("umount", "-l", _mounts[i]);
        _mounts.Clear();
    }

    internal static void Run(string command, params string[] arguments)
    {
        var start = new ProcessStartInfo(command) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        using Process process = Process.Start(start)!;
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{command} {string.Join(' ', arguments)} failed ({process.ExitCode}): {error.Trim()}");
    }

    public void Dispose()
    {
        try
        {
            UnmountAll();
        }
        finally
        {
            try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
        }
    }
}

/// <summary>A fact that mounts file systems: skipped, saying why, where this process may not mount.</summary>
public sealed class MountFactAttribute : FactAttribute
{
    private static readonly Lazy<string?> WhyNot = new(ProbeMount);

    public MountFactAttribute()
    {
        if (WhyNot.Value is { } reason) Skip = reason;
    }

    private static string? ProbeMount()
    {
        if (!OperatingSystem.IsLinux()) return "Mounting a tmpfs needs Linux.";
        string directory = Directory.CreateTempSubdirectory("gru-mount-probe-").FullName;
        try
        {
            RealFileSystemFaultTests.Run("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", directory);
            RealFileSystemFaultTests.Run("umount", directory);
            return null;
        }
        catch (Exception e) when (e is InvalidOperationException or System.ComponentModel.Win32Exception)
        {
            return $"This process cannot mount file systems (needs root with CAP_SYS_ADMIN): {e.Message}. StorageFaultApiTests covers the same faults by injection.";
        }
        finally
        {
            Directory.Delete(directory);
        }
    }
}
