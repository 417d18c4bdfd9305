using BenchmarkDotNet.Running;
using GruService.Benchmarks;

// Verbs of our own come first; anything else goes to BenchmarkDotNet, e.g.
//   dotnet run -c Release --project tests/GruService.Benchmarks -- --filter '*Gemm*'
//   dotnet run -c Release --project tests/GruService.Benchmarks -- --list flat
switch (args.FirstOrDefault())
{
    // A full GRU forward pass benchmark ("kernel") is dispatched here.
    case "train-step":
        return TrainStepCommand.Run(args);
    default:
        BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, BenchmarkSetup.DefaultConfig());
        return 0;
}
