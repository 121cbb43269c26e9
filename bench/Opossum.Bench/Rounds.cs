using Opossum.Testing.Processes;

namespace Opossum.Bench;

/// <summary>
/// One scenario of a set measured side by side: its load, and the server process its CPU is charged to
/// (null when the harness itself answers, as for the backend alone).
/// </summary>
public sealed record Contender(string Name, ChildProcess? Server, Uri Url, byte[] Body)
{
    /// <summary>A request's <c>Cache-Control</c> header (the OpenAI door's way of skipping the cache), or none.</summary>
    public string? CacheControl { get; init; }

    public HttpRequestMessage Request()
    {
        var request = Load.Post(Url, Body);
        if (CacheControl is not null)
            request.Headers.TryAddWithoutValidation("Cache-Control", CacheControl);
        return request;
    }

    /// <summary>Called before each of its measured windows.</summary>
    public Func<Task>? BeforeWindow { get; init; }

    /// <summary>Called after each of its measured windows, with what the window measured.</summary>
    public Func<Measurement, Task>? AfterWindow { get; init; }
}

/// <summary>What one contender measured over all rounds, and in each.</summary>
public sealed record Interleaved(string Name, Measurement Combined, CpuPerRequest? Cpu, IReadOnlyList<Measurement> PerRound)
{
    /// <summary>Requests sent to it in all: its first warm-up and every window's warm-up included.</summary>
    public long TotalSent { get; init; }
}

/// <summary>
/// Scenarios whose figures are compared with each other (cache-hit with the ceiling and with tracing off;
/// a miss with the backend alone) run in interleaved rounds: each round gives every contender a short
/// window, one after the other, in an order that rotates from round to round. This machine's speed drifts
/// by a third within minutes; two windows seconds apart see the same machine, two scenarios a minute apart
/// do not. Each scenario's measured time is split over the rounds, and its figures are those of all its
/// windows together; the ratio of each round is kept as well, to show how far they spread.
/// </summary>
public static class Rounds
{
    public static async Task<List<Interleaved>> RunAsync(HttpClient http, IReadOnlyList<Contender> contenders, int rounds,
        int concurrency, TimeSpan firstWarmup, TimeSpan windowWarmup, TimeSpan duration)
    {
        var sent = new long[contenders.Count];
        // Each contender's first load warms it up on its own (connections, the JIT for the path it measures).
        for (var i = 0; i < contenders.Count; i++)
        {
            var warm = await Load.RunAsync(contenders[i].Name + " warm-up", http, _ => contenders[i].Request(),
                concurrency, TimeSpan.Zero, firstWarmup);
            sent[i] += warm.Sent;
            Console.WriteLine($"{contenders[i].Name} warm-up: {warm.Throughput:0} req/s for {firstWarmup.TotalSeconds:0} s, {warm.Errors} errors");
        }

        var window = duration / rounds;
        var measured = contenders.Select(_ => new List<(Measurement Measurement, CpuPerRequest? Cpu)>()).ToArray();
        for (var round = 0; round < rounds; round++)
        {
            for (var k = 0; k < contenders.Count; k++)
            {
                var i = (k + round) % contenders.Count;
                var contender = contenders[i];
                if (contender.BeforeWindow is not null) await contender.BeforeWindow();
                Task<Measurement> Run(IProgress<bool>? edges) =>
                    Load.RunAsync(contender.Name, http, _ => contender.Request(), concurrency, windowWarmup, window, edges);
                var (measurement, cpu) = contender.Server is null
                    ? (await Run(null), null)
                    : await CpuPerRequest.MeasureAsync(contender.Server, Run);
                if (contender.AfterWindow is not null) await contender.AfterWindow(measurement);
                sent[i] += measurement.Sent;
                measured[i].Add((measurement, cpu));
                Console.WriteLine($"  round {round + 1}/{rounds} {contender.Name}: {measurement.Throughput:0} req/s, p50 {measurement.P50:0.00} ms, p99 {measurement.P99:0.00} ms" +
                    (cpu is null ? "" : $", {cpu}"));
            }
        }

        return contenders.Select((c, i) =>
        {
            var windows = measured[i];
            var combined = Measurement.Combine(c.Name, windows.Select(w => w.Measurement).ToList());
            var cpu = c.Server is null ? null : CpuPerRequest.Combine(windows.Select(w => (w.Measurement, w.Cpu!)).ToList());
            return new Interleaved(c.Name, combined, cpu, windows.Select(w => w.Measurement).ToList()) { TotalSent = sent[i] };
        }).ToList();
    }
}
