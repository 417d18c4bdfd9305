namespace GruService.Fuzz;

/// <summary>
/// The fuzz command: <c>dotnet run -c Release --project tests/GruService.Fuzz -- --iterations 100000 --seed 1</c>.
/// Prints progress to stderr, the failures with their reproducers, and a one-line JSON summary to stdout; exits 1
/// when anything failed, 2 on bad arguments.
/// </summary>
public static class FuzzCommand
{
    public static async Task<int> Main(string[] args)
    {
        FuzzSettings settings;
        try
        {
            settings = FuzzSettings.Parse(args);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }

        FuzzSummary summary = await FuzzRunner.RunAsync(settings, Console.Error);
        foreach (FuzzFailure failure in summary.Failures.Take(50))
            Console.Error.WriteLine($"FAILURE {failure.Kind} at iteration {failure.Iteration} (seed {settings.Seed}): reproducer {failure.ReproducerPath}\n  {failure.Description.Split('\n')[0]}");
        if (summary.Failures.Count > 50) Console.Error.WriteLine($"... and {summary.Failures.Count - 50} more failures.");
        if (!summary.MemoryBounded) Console.Error.WriteLine("FAILURE memory: the managed heap grew past the bound; see the managed_heap_* figures.");
        Console.WriteLine(summary.ToJson());
        return summary.Passed ? 0 : 1;
    }
}
