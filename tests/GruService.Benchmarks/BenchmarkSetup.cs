using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using BenchmarkDotNet.Running;

namespace GruService.Benchmarks;

/// <summary>A product whose floating-point work is known, so that a result can be shown as GFLOP/s.</summary>
public interface IFlopCount
{
    double Flops { get; }
}

public static class BenchmarkSetup
{
    /// <summary>
    /// Short runs (the whole GEMM suite finishes in a few minutes), the machine's load when the run started (another
    /// experiment on the same two cores skews every number), GFLOP/s, and allocations.
    /// </summary>
    public static IConfig DefaultConfig() => ManualConfig.Create(BenchmarkDotNet.Configs.DefaultConfig.Instance)
        .AddJob(Job.ShortRun)
        .AddColumn(new GflopsColumn())
        .AddDiagnoser(MemoryDiagnoser.Default)
        .AddLogicalGroupRules(BenchmarkLogicalGroupRule.ByParams)
        .WithOptions(ConfigOptions.JoinSummary)
        .WithSummaryStyle(SummaryStyle.Default.WithRatioStyle(RatioStyle.Trend).WithMaxParameterColumnWidth(48))
        .AddColumn(new LoadColumn());
}

/// <summary>Flops of the benchmark's <see cref="IFlopCount"/> parameter over the mean time.</summary>
public sealed class GflopsColumn : IColumn
{
    public string Id => nameof(GflopsColumn);
    public string ColumnName => "GFLOP/s";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 0;
    public bool IsNumeric => true;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "Floating-point operations (2 per multiply-add) per nanosecond of the mean";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => GetValue(summary, benchmarkCase, SummaryStyle.Default);

    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style)
    {
        double? flops = benchmarkCase.Parameters.Items.Select(p => p.Value).OfType<IFlopCount>().FirstOrDefault()?.Flops;
        double? meanNs = summary[benchmarkCase]?.ResultStatistics?.Mean;
        return flops is null || meanNs is null or 0 ? "-" : (flops.Value / meanNs.Value).ToString("F1");
    }
}

/// <summary>The 1-minute load average when the summary was made: above ~0.5 per core, re-measure.</summary>
public sealed class LoadColumn : IColumn
{
    private static readonly string s_load = ReadLoad();

    public string Id => nameof(LoadColumn);
    public string ColumnName => "Load";
    public bool AlwaysShow => true;
    public ColumnCategory Category => ColumnCategory.Custom;
    public int PriorityInCategory => 1;
    public bool IsNumeric => false;
    public UnitType UnitType => UnitType.Dimensionless;
    public string Legend => "1-minute load average (/proc/loadavg) when the run started";

    public bool IsDefault(Summary summary, BenchmarkCase benchmarkCase) => false;
    public bool IsAvailable(Summary summary) => true;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase) => s_load;
    public string GetValue(Summary summary, BenchmarkCase benchmarkCase, SummaryStyle style) => s_load;

    private static string ReadLoad()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "?"; }
        catch (UnauthorizedAccessException) { return "?"; }
    }
}
