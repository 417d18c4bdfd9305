using System.Diagnostics;
using System.Text;

namespace GruService.Api.Tests.Observability;

/// <summary>Runs Prometheus's own linter, <c>promtool check metrics</c>, on exposition text.</summary>
internal static class Promtool
{
    /// <summary>promtool's exit code and everything it printed (one line per lint problem; nothing when clean).</summary>
    public static (int ExitCode, string Output) CheckMetrics(string exposition)
    {
        string promtool = Find()
            ?? throw new Xunit.Sdk.XunitException(
                "promtool is not installed, so the /metrics output cannot be checked. Install it with `apt-get install prometheus`.");

        var start = new ProcessStartInfo(promtool)
        {
            ArgumentList = { "check", "metrics" },
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            // No byte order mark: promtool would read it as part of the first line.
            StandardInputEncoding = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false),
        };
        using Process process = Process.Start(start)!;
        Task<string> stdout = process.StandardOutput.ReadToEndAsync();
        Task<string> stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.Write(exposition);
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            process.Kill();
            throw new Xunit.Sdk.XunitException("promtool check metrics did not finish within 60 s.");
        }
        return (process.ExitCode, (stdout.Result + stderr.Result).Trim());
    }

    private static string? Find()
    {
        string[] directories = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries);
        return directories.Append("/usr/bin")
            .Select(directory => Path.Combine(directory, "promtool"))
            .FirstOrDefault(File.Exists);
    }
}
