using Opossum.Bench;
using Opossum.Bench.Scenarios;

if (Ceiling.IsChild(args))
    return await Ceiling.ServeAsync(args);

if (!BenchOptions.TryParse(args, out var options, out var refusal))
{
    Console.Error.WriteLine(refusal);
    return 2;
}

await using var bench = await Harness.StartAsync(options);
await CacheHit.RunAsync(bench);
await MissOverhead.RunAsync(bench);
await FirstChunk.RunAsync(bench);
await Coalesce.RunAsync(bench);
await Memory.RunAsync(bench);
await GeminiCapacity.RunAsync(bench);
await ManyStreams.RunAsync(bench);
return await bench.Report.WriteAsync(options);
