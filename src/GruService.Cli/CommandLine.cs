using System.Globalization;

namespace GruService.Cli;

/// <summary>The `--name value` options every command reads.</summary>
internal static class CommandLine
{
    public static string? Option(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    public static int Int(string[] args, string name, int fallback) =>
        Option(args, name) is { } value ? int.Parse(value, CultureInfo.InvariantCulture) : fallback;

    /// <summary>
    /// A client for the service at --url (default http://127.0.0.1:8080) that sends the API key given by --api-key, or
    /// else by the GRU_API_KEY environment variable (as README's run command sets it), in X-Api-Key: a service with
    /// Security:RequireKeyForInference on answers nothing without one.
    /// </summary>
    public static HttpClient ServiceClient(string[] args)
    {
        var client = new HttpClient { BaseAddress = new Uri(Option(args, "--url") ?? "http://127.0.0.1:8080"), Timeout = TimeSpan.FromMinutes(5) };
        string? key = Option(args, "--api-key") ?? Environment.GetEnvironmentVariable("GRU_API_KEY");
        if (!string.IsNullOrEmpty(key)) client.DefaultRequestHeaders.Add("X-Api-Key", key);
        return client;
    }
}
