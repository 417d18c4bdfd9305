using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace GruService.Api.Tests.Datasets;

/// <summary>
/// Uploads that stop half-way, against Kestrel in a real process: the test server has no connection to leave mid-read.
/// A read of the body cancelled by its token used to leave Kestrel's reader in progress, which Kestrel logged once the
/// handler returned ("Reading is already in progress.").
/// </summary>
public sealed class DatasetUploadAbortTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("gru-upload-abort-").FullName;
    private ServiceProcess? _service;

    /// <summary>Information, for the request log line that shows the server has finished with the request.</summary>
    private async Task<ServiceProcess> StartAsync(params string[] settings)
    {
        _service = new ServiceProcess(_root, ["--Serilog:MinimumLevel=Information", .. settings]);
        await _service.StartAsync();
        return _service;
    }

    [Fact]
    public async Task ClientClosingMidUpload_EndsTheRequestWithoutBreakingTheConnection_AndStoresNothing()
    {
        ServiceProcess service = await StartAsync();

        // Whether the token or the end of the body reaches the reader first is a race, so the abort is repeated.
        for (int attempt = 1; attempt <= 3; attempt++)
        {
            using Socket socket = await SendPartOfAnUploadAsync(service, "POST /v1/datasets", "text/csv", CsvRows());
            await Task.Delay(300); // the server has read what was sent and waits for more
            socket.Close();
            // 499 when the abort reaches the handler first; 400 (the body ended early) when the server was still reading.
            await WaitForRequestLogAsync(service, "\"Method\":\"POST\",\"Path\":\"/v1/datasets\",\"StatusCode\":4", attempt);
        }

        AssertNoBrokenConnection(service);
        await AssertNothingStoredAsync(service);
    }

    [Theory]
    [InlineData("POST /v1/datasets", "text/csv")]
    [InlineData("PUT /v1/models/stalled", "application/octet-stream")]
    public async Task UploadStallingPastTheUploadTimeout_Answers504_WithoutBreakingTheConnection(string requestLine, string contentType)
    {
        ServiceProcess service = await StartAsync("--RequestTimeouts:UploadSeconds=1");

        using Socket socket = await SendPartOfAnUploadAsync(service, requestLine, contentType, CsvRows());
        await AssertAnswered504Async(service, socket);

        AssertNoBrokenConnection(service);
        await AssertNothingStoredAsync(service);
    }

    [Fact]
    public async Task TrainingJobBodyStallingPastTheRequestTimeout_Answers504_WithoutBreakingTheConnection()
    {
        ServiceProcess service = await StartAsync("--RequestTimeouts:DefaultSeconds=1");
        var json = new StringBuilder("""{"model": "stalled", "task": "forecast", "data": {"series": [[""");
        for (int i = 0; json.Length < 1 << 20; i++) json.Append(i % 10).Append(".25, ");

        using Socket socket = await SendPartOfAnUploadAsync(service, "POST /v1/training-jobs", "application/json", Encoding.ASCII.GetBytes(json.ToString()));
        await AssertAnswered504Async(service, socket);

        AssertNoBrokenConnection(service);
        Assert.Equal("[]", (await (await service.Client.GetAsync("/v1/training-jobs")).JsonAsync())["jobs"]!.ToJsonString());
    }

    /// <summary>The stalled request's answer is a 504, and the server has logged the request as finished.</summary>
    private static async Task AssertAnswered504Async(ServiceProcess service, Socket socket)
    {
        var answer = new byte[4096];
        socket.ReceiveTimeout = 10_000;
        int received = await socket.ReceiveAsync(answer);
        Assert.StartsWith("HTTP/1.1 504 ", Encoding.ASCII.GetString(answer, 0, received));
        await WaitForRequestLogAsync(service, "\"StatusCode\":504", 1);
    }

    /// <summary>Rows of a CSV with a header, about 1 MB: far less than the 8 MB announced.</summary>
    private static byte[] CsvRows()
    {
        var rows = new StringBuilder("t,a,b,c\n");
        for (int i = 0; rows.Length < 1 << 20; i++) rows.Append(i).Append(",0.25,0.5,0.75\n");
        return Encoding.ASCII.GetBytes(rows.ToString());
    }

    /// <summary>Announces 8 MB and sends <paramref name="body"/> in pieces that cut lines, as a network does; the socket stays open.</summary>
    private static async Task<Socket> SendPartOfAnUploadAsync(ServiceProcess service, string requestLine, string contentType, byte[] body)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, service.Port);
        string head = $"{requestLine} HTTP/1.1\r\nHost: 127.0.0.1:{service.Port}\r\nX-Api-Key: {GruServiceFactory.TestApiKey}\r\n"
            + $"Content-Type: {contentType}\r\nContent-Length: 8000000\r\n\r\n";
        await socket.SendAsync(Encoding.ASCII.GetBytes(head));
        for (int sent = 0; sent < body.Length; sent += 7001)
            await socket.SendAsync(body.AsMemory(sent, Math.Min(7001, body.Length - sent)));
        return socket;
    }

    /// <summary>Waits for the <paramref name="count"/>th request log line with <paramref name="text"/>, then a little longer: Kestrel logs a broken connection just after.</summary>
    private static async Task WaitForRequestLogAsync(ServiceProcess service, string text, int count)
    {
        var clock = Stopwatch.StartNew();
        while (CountOf(service, text) < count && clock.Elapsed < TimeSpan.FromSeconds(15)) await Task.Delay(100);
        Assert.True(CountOf(service, text) >= count, $"no request logged with {text} (#{count}):\n{service.Output}");
        await Task.Delay(500);
    }

    private static int CountOf(ServiceProcess service, string text) =>
        service.Output.Split('\n').Count(line => line.Contains(text, StringComparison.Ordinal));

    private static void AssertNoBrokenConnection(ServiceProcess service)
    {
        Assert.DoesNotContain("Reading is already in progress", service.Output);
        Assert.DoesNotContain("ended abnormally", service.Output);
        Assert.DoesNotContain("body reader is in an invalid state", service.Output);
    }

    private async Task AssertNothingStoredAsync(ServiceProcess service)
    {
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_root, "tmp")));
        Assert.Empty(Directory.EnumerateFileSystemEntries(Path.Combine(_root, "datasets")));
        Assert.Equal("[]", (await (await service.Client.GetAsync("/v1/datasets")).JsonAsync())["datasets"]!.ToJsonString());
        Assert.Equal("[]", (await (await service.Client.GetAsync("/v1/models")).JsonAsync())["models"]!.ToJsonString());
    }

    public void Dispose()
    {
        _service?.Dispose();
        try { Directory.Delete(_root, recursive: true); } catch (IOException) { }
    }
}
