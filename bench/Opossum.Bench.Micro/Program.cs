using BenchmarkDotNet.Running;

// dotnet run -c Release --project bench/Opossum.Bench.Micro -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);

public partial class Program;
