using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using GruService.Api.Datasets;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Xunit.Abstractions;

namespace GruService.Api.Tests.Datasets;

/// <summary>Memory is measured for the whole process, so nothing else may run alongside.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MemoryMeasuringCollection
{
    public const string Name = "memory measuring";
}

[Collection(MemoryMeasuringCollection.Name)]
public class DatasetStreamingTests(ITestOutputHelper output)
{
    /// <summary>
    /// A CSV body generated while it is sent (header, then rows of a date and 7 features until the size is reached),
    /// with no Content-Length, so neither side can have it whole unless it buffers it.
    /// </summary>
    internal sealed class GeneratedCsvContent(long targetBytes) : HttpContent
    {
        // Value k of a row is ValueText[(row * 7 + k) % 1000]: formatted once, so generating the body costs little next to parsing it.
        private static readonly byte[][] ValueText = [.. Enumerable.Range(0, 1000).Select(i => Encoding.ASCII.GetBytes("," + Value(i).ToString(CultureInfo.InvariantCulture)))];

        public static double Value(long index) => index % 1000 * 0.125;

        public long Rows { get; private set; }
        public long BytesWritten { get; private set; }

        protected override async Task SerializeToStreamAsync(Stream stream, TransportContext? context)
        {
            byte[] chunk = new byte[1 << 16];
            int used = Encoding.ASCII.GetBytes("date,HUFL,HULL,MUFL,MULL,LUFL,LULL,OT\n", chunk);
            var start = new DateTime(2016, 7, 1, 0, 0, 0, DateTimeKind.Utc);
            while (BytesWritten < targetBytes)
            {
                while (used < chunk.Length - 200)
                {
                    long row = Rows++;
                    start.AddHours(row).TryFormat(chunk.AsSpan(used), out int written, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture);
                    used += written;
                    for (int feature = 0; feature < 7; feature++)
                    {
                        byte[] value = ValueText[(row * 7 + feature) % 1000];
                        value.CopyTo(chunk, used);
                        used += value.Length;
                    }
                    chunk[used++] = (byte)'\n';
                }
                await stream.WriteAsync(chunk.AsMemory(0, used));
                BytesWritten += used;
                used = 0;
            }
        }

        protected override bool TryComputeLength(out long length)
        {
            length = 0;
            return false;
        }
    }

    [Fact]
    public async Task LargeUpload_IsStreamed_WithoutHoldingTheBodyInMemory()
    {
        const long bodyBytes = 50L << 20;
        using var factory = new GruServiceFactory();
        await factory.ReadyClientAsync();
        // The factory's default client follows redirects, and to replay a POST on a redirect it copies the whole body into memory first.
        HttpClient client = factory.CreateClient(new WebApplicationFactoryClientOptions { AllowAutoRedirect = false });

        long baseline = GC.GetTotalMemory(forceFullCollection: true);
        long peak = baseline;
        using var uploading = new CancellationTokenSource();
        // Live memory (after a full collection) sampled through the upload: a buffered body would show up as a 50 MB rise.
        Task sampler = Task.Run(async () =>
        {
            while (!uploading.IsCancellationRequested)
            {
                peak = Math.Max(peak, GC.GetTotalMemory(forceFullCollection: true));
                try { await Task.Delay(250, uploading.Token); } catch (OperationCanceledException) { }
            }
        });

        var content = new GeneratedCsvContent(bodyBytes);
        content.Headers.ContentType = new MediaTypeHeaderValue(DatasetTestExtensions.Csv);
        var stopwatch = Stopwatch.StartNew();
        HttpResponseMessage response = await client.PostAsync("/v1/datasets", content);
        stopwatch.Stop();
        await uploading.CancelAsync();
        await sampler;

        string body = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, body);
        JsonObject record = JsonNode.Parse(body)!.AsObject();
        Assert.True(content.BytesWritten >= bodyBytes);
        Assert.Equal(content.BytesWritten, (long)record["upload_bytes"]!);
        Assert.Equal(content.Rows, (long)record["rows"]!);
        Assert.Equal(content.Rows * 7 * sizeof(float), (long)record["size_bytes"]!);
        Assert.Equal("2016-07-01 00:00:00", (string?)record["summary"]!["series"]![0]!["first_time"]);

        long rise = peak - baseline;
        output.WriteLine($"{content.BytesWritten >> 20} MiB, {content.Rows} rows in {stopwatch.ElapsedMilliseconds} ms; live memory rose by at most {rise >> 10} KiB");
        Assert.True(rise < 16L << 20, $"live memory rose by {rise >> 20} MiB during a {bodyBytes >> 20} MiB upload (took {stopwatch.ElapsedMilliseconds} ms)");

        // The stored values are the generated ones.
        TimeSeriesData data = await factory.Services.GetRequiredService<IDatasetStore>().LoadTimeSeriesAsync((string)record["id"]!, CancellationToken.None);
        TimeSeries series = Assert.Single(data.Series);
        Assert.Equal(content.Rows, series.Length);
        long last = content.Rows - 1;
        Assert.Equal((float)GeneratedCsvContent.Value(last * 7 + 6), series.Values[^1]);
    }
}
