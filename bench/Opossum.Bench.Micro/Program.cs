using BenchmarkDotNet.Running;
using Opossum.Bench.Micro;

// dotnet run -c Release --project bench/Opossum.Bench.Micro -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(CacheKeyBenchmarks).Assembly).Run(args);
