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
            // Open issue (docs/fuzzing.md, "Findings"): a model file with an extreme but finite weight is accepted,
            // then its NaN/infinite outputs cannot be written as JSON and the request answers 500. The fuzzer checks
            // in-process that such a 500 has exactly that cause; any other 5xx still fails this test. Drop this line
            // once the service answers those requests without a 5xx.
            TolerateNonFiniteOutputServerErrors = true,
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
