using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;

namespace GruService.Api.Tests.Replicas;

/// <summary>
/// Continuous inference through the load balancer: a few concurrent loops of the same forecast request, each
/// answer counted as sent, and as failed when it is not a 2xx with the expected body or never arrived.
/// </summary>
public sealed class LoadGenerator : IAsyncDisposable
{
    private readonly HttpClient _client;
    private readonly string _path;
    private readonly byte[] _body;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task[] _loops;
    private readonly ConcurrentQueue<string> _failures = new();
    private readonly ConcurrentDictionary<int, int> _answersByVersion = new();
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private long _sent;
    private long _failed;

    /// <param name="pause">Between one loop's requests: keeps the load continuous without taking every core from the replicas starting up.</param>
    public LoadGenerator(Uri balancer, string apiKey, string path, string json, int concurrency, TimeSpan pause)
    {
        _client = new HttpClient { BaseAddress = balancer, Timeout = TimeSpan.FromSeconds(30) };
        _client.DefaultRequestHeaders.Add("X-Api-Key", apiKey);
        _path = path;
        _body = Encoding.UTF8.GetBytes(json);
        _loops = [.. Enumerable.Range(0, concurrency).Select(_ => Task.Run(() => LoopAsync(pause)))];
    }

    /// <summary>What the test is doing, named in each failure.</summary>
    public string Phase { get; set; } = "start";

    public long Sent => Interlocked.Read(ref _sent);

    public long Failed => Interlocked.Read(ref _failed);

    /// <summary>The first failures, each with its time, phase and what was answered.</summary>
    public IReadOnlyCollection<string> Failures => _failures;

    /// <summary>Successful answers by the model version that gave them.</summary>
    public IReadOnlyDictionary<int, int> AnswersByVersion => _answersByVersion;

    private async Task LoopAsync(TimeSpan pause)
    {
        while (!_stop.IsCancellationRequested)
        {
            string? failure = await SendOnceAsync();
            Interlocked.Increment(ref _sent);
            if (failure is not null)
            {
                Interlocked.Increment(ref _failed);
                if (_failures.Count < 20) _failures.Enqueue($"{_clock.Elapsed.TotalSeconds:F1} s into the load, {Phase}: {failure}");
            }
            try
            {
                await Task.Delay(pause, _stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task<string?> SendOnceAsync()
    {
        try
        {
            using var content = new ByteArrayContent(_body);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
            // Not cancelled by stopping: a request once sent is always counted with its answer.
            using HttpResponseMessage response = await _client.PostAsync(_path, content);
            string text = await response.Content.ReadAsStringAsync();
            if (!response.IsSuccessStatusCode) return $"{(int)response.StatusCode} {text}";
            JsonObject answer = JsonNode.Parse(text)!.AsObject();
            if (answer["forecasts"] is not JsonArray { Count: > 0 }) return $"200 without forecasts: {text}";
            _answersByVersion.AddOrUpdate((int)answer["version"]!, 1, (_, n) => n + 1);
            return null;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Text.Json.JsonException)
        {
            return $"{e.GetType().Name}: {e.Message}";
        }
    }

    /// <summary>Stops the loops after their requests in flight are answered.</summary>
    public async Task StopAsync()
    {
        if (_stop.IsCancellationRequested) return;
        _stop.Cancel();
        await Task.WhenAll(_loops);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        _stop.Dispose();
        _client.Dispose();
    }
}
