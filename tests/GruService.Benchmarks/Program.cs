using BenchmarkDotNet.Running;
using GruService.Benchmarks;

// Verbs of our own come first; anything else goes to BenchmarkDotNet, e.g.
//   dotnet run -c Release --project tests/GruService.Benchmarks -- --filter '*Gemm*'
//   dotnet run -c Release --project tests/GruService.Benchmarks -- --list flat
switch (args.FirstOrDefault())
{
    // A forward pass shaped like ../shared/refs/bench_ort.js, one JSON line.
    case "kernel":
        return KernelCommand.Run(args[1..]);
    // A training step (forward, backward, optimiser update), one JSON line.
    case "train-step":
        return TrainStepCommand.Run(args);
    default:
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, BenchmarkSetup.DefaultConfig());
        return 0;
}
