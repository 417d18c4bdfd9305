using System.Net;
using System.Net.Sockets;
using GruService.Api.Health;

namespace GruService.Api.Tests;

/// <summary>
/// The probe behind `GruService.Api --healthcheck`, pointed at the real host through the test server's handler;
/// scripts/validate-deploy.sh runs the published binary's flag against a live, non-root instance.
/// </summary>
public class HealthCheckCommandTests
{
    [Fact]
    public async Task Probe_ExitsZero_WhenTheServiceAnswers200()
    {
        using var factory = new GruServiceFactory();
        var output = new StringWriter();
        int exitCode = await HealthCheckCommand.ProbeAsync(new Uri("http://localhost/healthz"), output, new StringWriter(), factory.Server.CreateHandler());
        Assert.Equal(0, exitCode);
        Assert.Contains("answered 200", output.ToString());
    }

    [Fact]
    public async Task Probe_ExitsOne_WhenTheServiceAnswersAnotherStatus()
    {
        using var factory = new GruServiceFactory();
        await factory.ReadyClientAsync();
        // A file where the staging directory should be makes /readyz answer 503 (see HealthApiTests).
        string staging = Path.Combine(factory.StorageRoot, "tmp");
        Directory.Delete(staging, recursive: true);
        File.WriteAllText(staging, "in the way");

        var error = new StringWriter();
        int exitCode = await HealthCheckCommand.ProbeAsync(new Uri("http://localhost/readyz"), new StringWriter(), error, factory.Server.CreateHandler());
        Assert.Equal(1, exitCode);
        Assert.Contains("answered 503", error.ToString());
    }

    [Fact]
    public async Task Probe_ExitsOne_WhenNothingListens()
    {
        // A port just released by a listener: nothing is bound to it, so the connection is refused at once.
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var error = new StringWriter();
        int exitCode = await HealthCheckCommand.ProbeAsync(new Uri($"http://127.0.0.1:{port}/healthz"), new StringWriter(), error);
        Assert.Equal(1, exitCode);
        Assert.Contains("did not answer", error.ToString());
    }

    [Theory]
    [InlineData(null, "http://127.0.0.1:8080/healthz")]
    [InlineData("", "http://127.0.0.1:8080/healthz")]
    [InlineData("9090", "http://127.0.0.1:9090/healthz")]
    [InlineData("8081;8082", "http://127.0.0.1:8081/healthz")]
    [InlineData(" 8083 , 8084", "http://127.0.0.1:8083/healthz")]
    public void DefaultUrl_IsHealthzOnTheFirstHttpPort(string? httpPorts, string expected) =>
        Assert.Equal(new Uri(expected), HealthCheckCommand.DefaultUrl(httpPorts));

    [Fact]
    public void IsRequested_OnlyWhenTheFlagComesFirst()
    {
        Assert.True(HealthCheckCommand.IsRequested(["--healthcheck"]));
        Assert.True(HealthCheckCommand.IsRequested(["--healthcheck", "http://127.0.0.1:8080/readyz"]));
        Assert.False(HealthCheckCommand.IsRequested([]));
        Assert.False(HealthCheckCommand.IsRequested(["--urls", "http://127.0.0.1:8080"]));
    }

    [Fact]
    public async Task Run_ExitsTwo_OnAUrlThatIsNotOne()
    {
        Assert.Equal(2, await HealthCheckCommand.RunAsync(["--healthcheck", "not a url"]));
        Assert.Equal(2, await HealthCheckCommand.RunAsync(["--healthcheck", "http://127.0.0.1:1/healthz", "extra"]));
    }
}
