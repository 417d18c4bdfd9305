using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using GruService.Api.Tests.Datasets;
using GruService.Api.Tests.Postgres;
using GruService.Api.Tests.Training;
using Npgsql;
using Xunit.Abstractions;

namespace GruService.Api.Tests.Replicas;

/// <summary>
/// The multi-replica test runs alone, after the other collections: it times restarts and takeovers of real processes,
/// which the rest of the suite competing for the same cores would only make slower and less telling. It has a
/// PostgreSQL cluster of its own.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class MultiReplicaCollection : ICollectionFixture<PostgresFixture>
{
    public const string Name = "Multi-replica";
}

/// <summary>
/// Three service processes on one PostgreSQL database behind nginx, as in production but without Docker: models,
/// predictions, a replica killed in the middle of a training job, and a rolling restart under continuous load.
/// Run alone with <c>dotnet test tests/GruService.Api.Tests -c Release --filter FullyQualifiedName~MultiReplica</c>.
/// </summary>
[Collection(MultiReplicaCollection.Name)]
public sealed class MultiReplicaTests(PostgresFixture postgres, ITestOutputHelper output)
{
    /// <summary>The key every replica accepts (scopes manage, infer, read), sent with every request.</summary>
    public const string ApiKey = "multi-replica-test-key-0123456789";

    private const string ServedModel = "served";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(40);

    [Fact]
    public async Task KillAndRollingRestartUnderLoad_FailNoRequest_LoseNoJob_AndLeaveEveryReplicaOnTheSameVersion()
    {
        Assert.True(NginxProcess.FindBinary() is not null,
            "nginx was not found (/usr/sbin/nginx or on PATH). Run scripts/install-test-deps.sh (it installs the apt package nginx) and run the tests again.");
        var clock = Stopwatch.StartNew();
        var figures = new Figures();
        string database = await postgres.CreateDatabaseAsync();
        string[] settings =
        [
            "--Storage:Provider=Postgres",
            $"--Storage:Postgres:ConnectionString={database}",
            // A dead replica's job is taken over 3 s after its last heartbeat rather than 30 s.
            "--Storage:Postgres:LeaseSeconds=3",
            "--Storage:Postgres:HeartbeatSeconds=1",
            "--Storage:Postgres:PollSeconds=0.5",
            "--Models:BundledDirectory=",
            "--Serilog:MinimumLevel=Warning",
            "--Training:ProgressIntervalSeconds=0",
            "--Training:Threads=1",
            // Graceful shutdown (/readyz 503 at once, a short drain, in-flight requests finish, a running job releases
            // its lease) and API keys, short and fixed here. A build without those features ignores these settings: it
            // stops accepting at SIGTERM at once, which nginx's retries cover, and needs no key.
            "--Shutdown:DrainDelaySeconds=1",
            "--Shutdown:TimeoutSeconds=20",
            $"--Security:ApiKeys:test:Key={ApiKey}",
            "--Security:ApiKeys:test:Scopes:0=manage",
            "--Security:ApiKeys:test:Scopes:1=infer",
            "--Security:ApiKeys:test:Scopes:2=read",
        ];
        ServiceReplica[] replicas = [.. Enumerable.Range(1, 3).Select(i => new ServiceReplica($"replica-{i}", settings))];
        NginxProcess? nginx = null;
        LoadGenerator? load = null;
        try
        {
            await Task.WhenAll(replicas.Select(r => r.StartAsync(StartTimeout)));
            nginx = await NginxProcess.StartAsync([.. replicas.Select(r => r.Port)]);
            using var balancer = new HttpClient { BaseAddress = nginx.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
            balancer.DefaultRequestHeaders.Add("X-Api-Key", ApiKey);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: replicas on ports {string.Join(", ", replicas.Select(r => r.Port))}, nginx on {nginx.Port}");

            // A model uploaded through the balancer reaches one replica, and every replica serves it.
            ReferenceModel first = ReferenceModel.Load(8);
            Assert.Equal(HttpStatusCode.Created, (await balancer.PutModelAsync(ServedModel, first.File)).StatusCode);
            await Task.WhenAll(replicas.Select(r => WaitForActiveVersionAsync(r, ServedModel, 1)));
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: version 1 of {ServedModel} uploaded through nginx, served by every replica");

            // Predictions through the balancer reach every replica (nginx's log names the replica that answered each),
            // and every replica gives the answer ONNX Runtime computed.
            string forecastPath = $"/v1/models/{ServedModel}/forecast";
            string forecastBody = HttpTestExtensions.Serialize(first.Inputs);
            for (int i = 0; i < 30; i++)
            {
                HttpResponseMessage response = await balancer.PostJsonAsync(forecastPath, forecastBody);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
                JsonArray forecasts = (await response.JsonAsync())["forecasts"]!.AsArray();
                for (int s = 0; s < first.Expected.Length; s++)
                    ReferenceModel.AssertClose(first.Expected[s], [.. Flatten(forecasts[s]!)], $"forecast {i}, sequence {s}");
            }
            Dictionary<int, int> servedBy = ForecastsByReplicaPort(nginx);
            output.WriteLine($"forecasts by replica port: {string.Join(", ", servedBy.Select(p => $"{p.Key}: {p.Value}"))}");
            foreach (ServiceReplica replica in replicas)
                Assert.True(servedBy.GetValueOrDefault(replica.Port) > 0, $"{replica.Name} (port {replica.Port}) answered no prediction: {string.Join(", ", servedBy)}");
            figures.ReachedEveryReplica = true;

            // From here on, inference never stops.
            load = new LoadGenerator(nginx.BaseAddress, ApiKey, forecastPath, forecastBody, concurrency: 4, pause: TimeSpan.FromMilliseconds(20));

            // A training job on an uploaded dataset, killed with its replica once an epoch is checkpointed (the first
            // epochs are the slow ones, before the JIT has optimised the trainer): another replica finishes it.
            load.Phase = "kill -9 of the replica running a job";
            HttpResponseMessage uploaded = await balancer.PostDatasetAsync(SineCsv(4000), DatasetTestExtensions.Csv, "sine");
            Assert.Equal(HttpStatusCode.Created, uploaded.StatusCode);
            string dataset = (string)(await uploaded.JsonAsync())["id"]!;
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: dataset uploaded through nginx");
            const int killedJobEpochs = 10;
            string killedJob = await StartJobAsync(balancer, JobRequest("killed-mid-run", dataset, killedJobEpochs));
            JsonObject beforeKill = await TrainingRequests.WaitAsync(balancer, killedJob, j => j["history"]!.AsArray().Count >= 1 || TrainingRequests.Finished(j), seconds: 120);
            ServiceReplica runner = await RunnerOfAsync(database, killedJob, replicas);
            double[] lossesBeforeKill = [.. beforeKill["history"]!.AsArray().Select(e => (double)e!["train_loss"]!)];
            Assert.True(lossesBeforeKill.Length < killedJobEpochs, $"the job finished before it could be killed: {beforeKill.ToJsonString()}");
            await runner.KillAsync();
            var takeoverClock = Stopwatch.StartNew();
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: killed {runner.Name} (pid {runner.Process!.Id}) after {lossesBeforeKill.Length} of {killedJobEpochs} epochs");

            ServiceReplica successor = await WaitForNewRunnerAsync(database, killedJob, replicas.Where(r => r != runner).ToArray(), TimeSpan.FromSeconds(60));
            figures.TakeoverSeconds = takeoverClock.Elapsed.TotalSeconds;
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: {successor.Name} took the job over {figures.TakeoverSeconds:F1} s after the kill");
            JsonObject killedDone = await TrainingRequests.WaitAsync(balancer, killedJob, TrainingRequests.Finished, seconds: 180);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: the job finished: {killedDone["status"]}; {Timeline(killedDone)}");
            Assert.Equal("succeeded", (string?)killedDone["status"]);
            Assert.Equal(1, (int)killedDone["resumed"]!);
            figures.KilledJobResumedFromEpoch = (int)killedDone["resumed_from_epoch"]!;
            Assert.True((int)killedDone["resumed_from_epoch"]! >= lossesBeforeKill.Length,
                $"resumed from epoch {killedDone["resumed_from_epoch"]} although {lossesBeforeKill.Length} had finished before the kill");
            JsonArray killedHistory = killedDone["history"]!.AsArray();
            Assert.Equal(killedJobEpochs, killedHistory.Count);
            // The epochs finished before the kill are kept as they were, not trained again.
            Assert.Equal(lossesBeforeKill, killedHistory.Take(lossesBeforeKill.Length).Select(e => (double)e!["train_loss"]!));

            load.Phase = $"restart of the killed {runner.Name}";
            await runner.StartAsync(StartTimeout);
            figures.Restarts++;
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: {runner.Name} started again");

            // A rolling restart (SIGTERM, exit, start, ready; one replica at a time) while a job runs and inference
            // goes on; a new model version is uploaded halfway. The replica running the job goes first, so the job
            // is always handed over by a graceful stop (its lease released) rather than finishing before its turn.
            const int rollingJobEpochs = 10;
            string rollingJob = await StartJobAsync(balancer, JobRequest("trained-during-restarts", dataset, rollingJobEpochs));
            await TrainingRequests.WaitAsync(balancer, rollingJob, j => (string?)j["status"] != "queued", seconds: 60);
            ServiceReplica rollingRunner = await RunnerOfAsync(database, rollingJob, replicas);
            ServiceReplica[] order = [rollingRunner, .. replicas.Where(r => r != rollingRunner)];
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: another job running on {rollingRunner.Name}; rolling restart begins");
            ReferenceModel second = ReferenceModel.Load(18); // same input size as the first, different weights
            var rollingClock = Stopwatch.StartNew();
            for (int i = 0; i < order.Length; i++)
            {
                load.Phase = $"rolling restart of {order[i].Name}";
                var restartClock = Stopwatch.StartNew();
                await order[i].StopAsync(StopTimeout);
                double stopped = restartClock.Elapsed.TotalSeconds;
                await order[i].StartAsync(StartTimeout);
                figures.Restarts++;
                output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: {order[i].Name} stopped in {stopped:F1} s, ready again {restartClock.Elapsed.TotalSeconds - stopped:F1} s later");
                if (i == 0)
                {
                    load.Phase = "upload of version 2 during the rolling restart";
                    Assert.Equal(HttpStatusCode.Created, (await balancer.PutModelAsync(ServedModel, second.File)).StatusCode);
                }
            }
            figures.RollingRestartSeconds = rollingClock.Elapsed.TotalSeconds;
            load.Phase = "after the rolling restart";
            await Task.Delay(TimeSpan.FromSeconds(1));
            await load.StopAsync();

            JsonObject rollingDone = await TrainingRequests.WaitAsync(balancer, rollingJob, TrainingRequests.Finished, seconds: 180);
            output.WriteLine($"{clock.Elapsed.TotalSeconds:F1} s: the job trained during the restarts finished, resumed {rollingDone["resumed"]} times; {Timeline(rollingDone)}");
            Assert.Equal("succeeded", (string?)rollingDone["status"]);
            Assert.True((int)rollingDone["resumed"]! >= 1, $"the job was not handed over when its replica stopped: {rollingDone.ToJsonString()}");
            Assert.Equal(rollingJobEpochs, rollingDone["history"]!.AsArray().Count);

            // No job lost: every job accepted succeeded, each published exactly one version of its model.
            JsonArray jobs = (await (await balancer.GetAsync("/v1/training-jobs")).JsonAsync())["jobs"]!.AsArray();
            figures.Jobs = jobs.Count;
            figures.JobsSucceeded = jobs.Count(j => (string?)j!["status"] == "succeeded");
            figures.JobsTakenOver = jobs.Count(j => (int)j!["resumed"]! > 0);
            figures.Resumptions = jobs.Sum(j => (int)j!["resumed"]!);
            Assert.Equal(2, figures.Jobs);
            Assert.Equal(figures.Jobs, figures.JobsSucceeded);
            Assert.Equal(2, figures.JobsTakenOver);

            // Every replica, asked directly, serves the same active version of every model.
            foreach (ServiceReplica replica in replicas)
            {
                Assert.Equal(2, await ActiveVersionAsync(replica, ServedModel));
                Assert.Equal(1, await ActiveVersionAsync(replica, "killed-mid-run"));
                Assert.Equal(1, await ActiveVersionAsync(replica, "trained-during-restarts"));
                foreach (string trained in (string[])["killed-mid-run", "trained-during-restarts"])
                {
                    // A job run twice, or finished by two replicas, would have published two versions.
                    JsonObject versions = await (await replica.Client.GetAsync($"/v1/models/{trained}/versions")).JsonAsync();
                    Assert.Single(versions["versions"]!.AsArray());
                }
            }
            figures.SameVersionEverywhere = true;
        }
        finally
        {
            if (load is not null)
            {
                await load.StopAsync();
                figures.Sent = load.Sent;
                figures.Failed = load.Failed;
                figures.AnswersByVersion = load.AnswersByVersion.ToDictionary(p => p.Key.ToString(CultureInfo.InvariantCulture), p => p.Value);
                foreach (string failure in load.Failures) output.WriteLine($"failed request: {failure}");
                await load.DisposeAsync();
            }
            if (nginx is not null)
            {
                string[] forecasts = [.. nginx.AccessLog().Where(l => l.Contains("/forecast", StringComparison.Ordinal))];
                figures.RetriedByNginx = forecasts.Count(l => l.Contains(", ", StringComparison.Ordinal));
            }
            figures.Seconds = clock.Elapsed.TotalSeconds;
            Report(figures, nginx, replicas);
            nginx?.Dispose();
            foreach (ServiceReplica replica in replicas) replica.Dispose();
        }

        Assert.True(figures.Sent >= 100, $"only {figures.Sent} requests were sent during the kill and the restarts");
        Assert.True(figures.Failed == 0, $"{figures.Failed} of {figures.Sent} requests failed during the kill and the restarts (see the test output)");
        // Both versions answered: the load ran across the upload, and it reached the replicas that loaded version 2.
        Assert.True(figures.AnswersByVersion.ContainsKey("1") && figures.AnswersByVersion.ContainsKey("2"), JsonSerializer.Serialize(figures.AnswersByVersion));
        Assert.Equal(4, figures.Restarts);
    }

    private static JsonObject JobRequest(string model, string dataset, int epochs) => new()
    {
        ["model"] = model,
        ["task"] = "forecast",
        ["dataset"] = dataset,
        ["targets"] = new JsonArray("value"),
        ["window"] = 20,
        ["horizon"] = 4,
        ["architecture"] = new JsonObject { ["hidden_size"] = 12 },
        ["hyperparameters"] = new JsonObject { ["epochs"] = epochs, ["learning_rate"] = 0.01, ["patience"] = 0, ["batch_size"] = 32 },
    };

    /// <summary>A noisy sine as a one-column CSV time series.</summary>
    private static string SineCsv(int rows)
    {
        var random = new Random(7);
        var csv = new StringBuilder("value\n");
        for (int t = 0; t < rows; t++)
            csv.Append(CultureInfo.InvariantCulture, $"{Math.Sin(2 * Math.PI * t / 20) + 0.05 * (random.NextDouble() - 0.5):F4}\n");
        return csv.ToString();
    }

    private static async Task<string> StartJobAsync(HttpClient client, JsonObject request)
    {
        HttpResponseMessage response = await client.PostJsonAsync("/v1/training-jobs", request.ToJsonString());
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        return (string)(await response.JsonAsync())["id"]!;
    }

    /// <summary>The replica whose worker holds the job's lease: the lease owner is "host/pid/guid".</summary>
    private static async Task<ServiceReplica> RunnerOfAsync(string database, string job, IReadOnlyList<ServiceReplica> replicas)
    {
        string? owner = await LeaseOwnerAsync(database, job);
        return ReplicaOf(owner, replicas) ?? throw new InvalidOperationException($"job {job}'s lease owner '{owner}' is none of the replicas");
    }

    /// <summary>Waits until one of <paramref name="survivors"/> holds the job's lease (or it finished before it could be seen).</summary>
    private static async Task<ServiceReplica> WaitForNewRunnerAsync(string database, string job, IReadOnlyList<ServiceReplica> survivors, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        string? owner = null;
        while (clock.Elapsed < timeout)
        {
            owner = await LeaseOwnerAsync(database, job);
            if (ReplicaOf(owner, survivors) is { } successor) return successor;
            await Task.Delay(50);
        }
        throw new TimeoutException($"no surviving replica took job {job} over within {timeout.TotalSeconds} s (lease owner: '{owner}')");
    }

    private static async Task<string?> LeaseOwnerAsync(string database, string job)
    {
        await using var connection = new NpgsqlConnection(database);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand("SELECT lease_owner FROM training_jobs WHERE id = $1", connection) { Parameters = { new() { Value = job } } };
        return await command.ExecuteScalarAsync() as string;
    }

    private static ServiceReplica? ReplicaOf(string? leaseOwner, IReadOnlyList<ServiceReplica> replicas)
    {
        string[] parts = leaseOwner?.Split('/') ?? [];
        return parts.Length == 3 && int.TryParse(parts[1], CultureInfo.InvariantCulture, out int pid)
            ? replicas.FirstOrDefault(r => r.ProcessId == pid)
            : null;
    }

    private static async Task WaitForActiveVersionAsync(ServiceReplica replica, string model, int version)
    {
        var clock = Stopwatch.StartNew();
        int? active = null;
        while (clock.Elapsed < TimeSpan.FromSeconds(15))
        {
            active = await ActiveVersionAsync(replica, model);
            if (active == version) return;
            await Task.Delay(50);
        }
        throw new TimeoutException($"{replica.Name} served version {active?.ToString(CultureInfo.InvariantCulture) ?? "none"} of {model}, not {version}");
    }

    private static async Task<int?> ActiveVersionAsync(ServiceReplica replica, string model)
    {
        using HttpResponseMessage response = await replica.Client.GetAsync($"/v1/models/{model}");
        return response.IsSuccessStatusCode ? (int?)(await response.JsonAsync())["version"] : null;
    }

    /// <summary>Successful forecasts in nginx's access log, by the port of the replica that answered (the last one tried).</summary>
    private static Dictionary<int, int> ForecastsByReplicaPort(NginxProcess nginx) =>
        nginx.AccessLog()
            .Where(line => line.StartsWith("200 POST ", StringComparison.Ordinal) && line.Contains("/forecast", StringComparison.Ordinal))
            .Select(line => line.Split("upstream=")[1].Split(' ')[0].Split(',')[^1].Trim())
            .GroupBy(address => int.Parse(address[(address.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture))
            .ToDictionary(g => g.Key, g => g.Count());

    /// <summary>When a job was accepted, started and finished, and how long each epoch took: where a slow run spent its time.</summary>
    private static string Timeline(JsonObject job) =>
        $"created {job["created_at"]}, last started {job["started_at"]}, finished {job["finished_at"]}, epochs took "
        + string.Join(", ", job["history"]!.AsArray().Select(e => ((double)e!["seconds"]!).ToString("F1", CultureInfo.InvariantCulture))) + " s";

    private static IEnumerable<float> Flatten(JsonNode node) =>
        node is JsonArray array ? array.SelectMany(n => Flatten(n!)) : [(float)node];

    /// <summary>The figures in the test output, and in TestResults/multi-replica.json beside the test project with nginx's logs.</summary>
    private void Report(Figures figures, NginxProcess? nginx, IReadOnlyList<ServiceReplica> replicas)
    {
        string json = JsonSerializer.Serialize(figures, new JsonSerializerOptions { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower });
        output.WriteLine($"multi-replica figures: {json}");
        string results = ResultsDirectory();
        Directory.CreateDirectory(results);
        File.WriteAllText(Path.Combine(results, "multi-replica.json"), json);
        if (nginx is not null)
        {
            File.WriteAllLines(Path.Combine(results, "multi-replica-nginx-access.log"), nginx.AccessLog());
            File.WriteAllText(Path.Combine(results, "multi-replica-nginx-error.log"), nginx.ErrorLog());
        }
        if (figures.Failed > 0 || !figures.SameVersionEverywhere)
            foreach (ServiceReplica replica in replicas) output.WriteLine($"--- {replica.Name} output:\n{replica.Output}");
        output.WriteLine($"written to {results}");
    }

    /// <summary>tests/GruService.Api.Tests/TestResults (the test runs from bin/CONFIGURATION/FRAMEWORK); git ignores it.</summary>
    private static string ResultsDirectory() =>
        Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", "..", "..", "TestResults"));

    private sealed class Figures
    {
        public long Sent { get; set; }
        public long Failed { get; set; }
        public int RetriedByNginx { get; set; }
        public Dictionary<string, int> AnswersByVersion { get; set; } = [];
        public bool ReachedEveryReplica { get; set; }
        public int Jobs { get; set; }
        public int JobsSucceeded { get; set; }
        public int JobsTakenOver { get; set; }
        public int Resumptions { get; set; }
        public int KilledJobResumedFromEpoch { get; set; }
        public double TakeoverSeconds { get; set; }
        public int Restarts { get; set; }
        public double RollingRestartSeconds { get; set; }
        public bool SameVersionEverywhere { get; set; }
        public double Seconds { get; set; }
    }
}
