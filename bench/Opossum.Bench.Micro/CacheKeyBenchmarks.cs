using BenchmarkDotNet.Attributes;
using Opossum.Grains;
using Opossum.Grains.Caching;

namespace Opossum.Bench.Micro;

/// <summary>The response cache key of a one-shot prompt and of a conversation with five exchanges of context.</summary>
[MemoryDiagnoser]
public class CacheKeyBenchmarks
{
    private readonly GenerationRequest _oneShot = new("gemma3:1b", [new ChatMessage("user", "What is an opossum?")]);
    private readonly GenerationRequest _conversation = new("gemma3:1b",
        Enumerable.Range(0, 11).Select(i => new ChatMessage(i % 2 == 0 ? "user" : "assistant", new string('x', 200) + i)).ToList());

    [Benchmark(Baseline = true)]
    public string OneShot() => CacheKey.For(_oneShot);

    [Benchmark]
    public string FiveExchanges() => CacheKey.For(_conversation);
}
