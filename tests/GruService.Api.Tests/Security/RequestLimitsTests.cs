using System.Net;
using System.Net.Sockets;
using System.Text;
using GruService.Api.Security;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Timeouts;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace GruService.Api.Tests.Security;

public sealed class RequestLimitsTests
{
    /// <summary>In a real process: the test server's in-memory request body does not see a timeout's cancellation.</summary>
    [Fact]
    public async Task Inference_Returns504Problem_WhenTheRequestOutlastsItsTimeout()
    {
        string root = Directory.CreateTempSubdirectory("gru-timeout-").FullName;
        try
        {
            using var service = new ServiceProcess(root, "--RequestTimeouts:DefaultSeconds=1");
            await service.StartAsync();
            Assert.Equal(HttpStatusCode.Created, (await service.Client.PutModelAsync("demand", ReferenceModel.Load(8).File)).StatusCode);

            // A body that starts and then never ends: only the timeout can finish the request. Sent on a bare socket,
            // as HttpClient does not hand back a response that comes before its request body is sent.
            using var socket = new TcpClient();
            await socket.ConnectAsync(IPAddress.Loopback, service.Port);
            NetworkStream stream = socket.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(
                "POST /v1/models/demand/forecast HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"inputs\": [["));
            // A generous bound, so a timeout that never fires fails the test instead of hanging it.
            using var bound = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            string response = await ReadResponseAsync(stream, bound.Token);
            Assert.StartsWith("HTTP/1.1 504", response);
            Assert.Contains("Content-Type: application/problem+json", response);
            Assert.Contains("\"reason\":\"request_timeout\"", response);
            Assert.Contains("RequestTimeouts:DefaultSeconds", response);
            // Kestrel, unlike the test server, would name itself; and the problem carries the security headers too.
            Assert.DoesNotContain("Server:", response);
            Assert.Contains("X-Content-Type-Options: nosniff", response);

            // One log event for the timeout, the request's own line at Warning, without a stack trace.
            string trace = System.Text.RegularExpressions.Regex.Match(response, "\"trace_id\":\"([0-9a-f]{32})\"").Groups[1].Value;
            await Task.Delay(500);
            string[] lines = [.. service.Output.Split('\n').Where(line => line.Contains("\"Level\":\"Warning\"") || line.Contains("\"Level\":\"Error\""))];
            string line = Assert.Single(lines);
            Assert.Contains("\"StatusCode\":504", line);
            Assert.Contains(trace, line);
            Assert.DoesNotContain("Exception", line);
        }
        finally
        {
            try { Directory.Delete(root, recursive: true); } catch (IOException) { }
        }
    }

    /// <summary>The response's head and first chunk of body, read until the chunk that ends the JSON.</summary>
    private static async Task<string> ReadResponseAsync(NetworkStream stream, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        var buffer = new byte[4096];
        while (!text.ToString().Contains("\r\n0\r\n", StringComparison.Ordinal))
        {
            int read = await stream.ReadAsync(buffer, cancellationToken);
            if (read == 0) break;
            text.Append(Encoding.UTF8.GetString(buffer, 0, read));
        }
        return text.ToString();
    }

    [Theory]
    [InlineData("UploadModel")]
    [InlineData("UploadDataset")]
    public void Uploads_UseTheUploadTimeoutPolicy_NotTheDefault(string endpointName)
    {
        using var factory = new GruServiceFactory();
        factory.CreateClient();
        Endpoint endpoint = factory.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .Single(e => e.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName == endpointName);
        Assert.Equal(RequestTimeoutPolicies.Upload, endpoint.Metadata.GetMetadata<RequestTimeoutAttribute>()?.PolicyName);
    }

    [Theory]
    [InlineData("Forecast")]
    [InlineData("ListModels")]
    [InlineData("StartTrainingJob")]
    public void OtherEndpoints_UseTheDefaultTimeoutPolicy(string endpointName)
    {
        using var factory = new GruServiceFactory();
        factory.CreateClient();
        Endpoint endpoint = factory.Services.GetRequiredService<EndpointDataSource>().Endpoints
            .Single(e => e.Metadata.GetMetadata<IEndpointNameMetadata>()?.EndpointName == endpointName);
        Assert.Null(endpoint.Metadata.GetMetadata<RequestTimeoutAttribute>());
        Assert.Null(endpoint.Metadata.GetMetadata<DisableRequestTimeoutAttribute>());
    }
}
