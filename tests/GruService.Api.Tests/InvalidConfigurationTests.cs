namespace GruService.Api.Tests;

/// <summary>An invalid setting or a taken address stops the real process at start with one line per failure and exit code 1: not a crash.</summary>
public sealed class InvalidConfigurationTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("gru-bad-config-").FullName;
    private ServiceProcess? _service;

    [Theory]
    [InlineData("--Security:ApiKeys:local:Key=short", "Security:ApiKeys:local:Key is 5 characters long")]
    // What the quick start gives when GRU_API_KEY is unset.
    [InlineData("--Security:ApiKeys:local:Key=", "Security:ApiKeys:local:Key is missing")]
    public async Task InvalidApiKey_ExitsWithCode1_NamingTheSetting_WithoutAStackTrace(string keySetting, string expected)
    {
        _service = ServiceProcess.WithSettings("The misconfigured service", _root, "unused-key-0123456789", [keySetting, "--Security:ApiKeys:local:Scopes:0=manage", "--Models:BundledDirectory="]);

        await Assert.ThrowsAsync<InvalidOperationException>(_service.StartAsync); // it exits instead of becoming ready
        await _service.Process!.WaitForExitAsync();

        string output = AssertRefusedToStart(_service);
        Assert.Contains($"Invalid configuration: {expected}", output);
    }

    /// <summary>Exit code 1, a Critical (Serilog Fatal) event, and no crash: no unhandled exception, no stack trace. Returns the output.</summary>
    private static string AssertRefusedToStart(ServiceProcess service)
    {
        string output = service.Output;
        Assert.True(service.Process!.ExitCode == 1, $"exit code {service.Process.ExitCode}:\n{output}");
        Assert.Contains("\"Level\":\"Fatal\"", output); // the structured event too, at Critical
        Assert.DoesNotContain("Unhandled exception", output);
        Assert.DoesNotContain("   at ", output);
        Assert.DoesNotContain("Hosting failed to start", output);
        return output;
    }

    [Fact]
    public async Task SeveralInvalidSettings_AreEachNamedOnALineOfTheirOwn()
    {
        _service = ServiceProcess.WithSettings("The misconfigured service", _root, "unused-key-0123456789",
            ["--Security:ApiKeys:local:Key=short", "--RequestTimeouts:DefaultSeconds=-1", "--Models:BundledDirectory="]);

        await Assert.ThrowsAsync<InvalidOperationException>(_service.StartAsync);
        await _service.Process!.WaitForExitAsync();

        string[] failures = [.. _service.Output.Split('\n').Where(line => line.StartsWith("Invalid configuration: ", StringComparison.Ordinal))];
        Assert.Equal(3, failures.Length);
        Assert.Contains(failures, line => line.Contains("Security:ApiKeys:local:Key is 5 characters long"));
        Assert.Contains(failures, line => line.Contains("Security:ApiKeys:local:Scopes is empty"));
        Assert.Contains(failures, line => line.Contains("DefaultSeconds"));
        Assert.Equal(1, _service.Process.ExitCode);
    }

    [Fact]
    public async Task AddressInUse_ExitsWithCode1_NamingTheAddress_WithoutAStackTrace()
    {
        _service = ServiceProcess.WithSettings("The service on a taken port", _root, "unused-key-0123456789",
            ["--Security:ApiKeys:local:Key=0123456789abcdef0123456789abcdef", "--Security:ApiKeys:local:Scopes:0=manage", "--Models:BundledDirectory="]);
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, _service.Port);
        taken.Start();

        await Assert.ThrowsAsync<InvalidOperationException>(_service.StartAsync);
        await _service.Process!.WaitForExitAsync();

        string output = AssertRefusedToStart(_service);
        Assert.Contains($"Cannot listen: Failed to bind to address http://127.0.0.1:{_service.Port}: address already in use.", output);
        Assert.Contains("--urls", output);
    }

    public void Dispose()
    {
        _service?.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
