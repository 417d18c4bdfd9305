using GruService.Fuzz;

namespace GruService.Api.Tests.Fuzzing;

/// <summary>
/// The CI subset of the fuzzer (tests/GruService.Fuzz, docs/fuzzing.md): the same code as the full run, a fixed
/// seed and 2,000 iterations, half mutated model files and half mutated requests, against the real service on a
/// loopback port.
/// </summary>
public class FuzzSmokeTests
{
    [Fact]
    public async Task TwoThousandMutatedModelFilesAndRequests_GetNoServerErrorNoCrashNoHang_AndMemoryStaysBounded()
    {
        var settings = new FuzzSettings
        {
            Iterations = 2_000,
            Seed = 20261121,
            // A generous bound: CI machines are shared, and a hang is minutes, not seconds.
            HangBound = TimeSpan.FromSeconds(30),
        };

        FuzzSummary summary = await FuzzRunner.RunAsync(settings);

        string failures = string.Join("\n", summary.Failures.Take(10).Select(f => $"{f.Kind} at iteration {f.Iteration}: {f.Description}"));
        Assert.True(summary.Passed, $"{summary.ToJson()}\n{failures}");
        Assert.Equal(2_000, summary.Iterations);
        Assert.Equal(1_000, summary.ModelFileMutations);
        // Every iteration did reach the service: uploads, inference requests and training jobs all went over HTTP.
        Assert.True(summary.HttpRequests > 1_000, summary.ToJson());
        Assert.True(summary.ModelFilesAcceptedInProcess > 0 && summary.ModelFilesUploaded > summary.ModelFilesAcceptedInProcess, summary.ToJson());
        Assert.True(summary.TrainingRequestMutations > 0, summary.ToJson());
    }
}
