using System.Runtime.CompilerServices;

// The benchmarks force each kernel path and threading mode through the internal GemmSettings, as the tests do.
[assembly: InternalsVisibleTo("GruService.Benchmarks")]
