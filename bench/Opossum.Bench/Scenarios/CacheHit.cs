using Opossum.Testing.Processes;
using Opossum.Testing.Telemetry;

namespace Opossum.Bench.Scenarios;

/// <summary>
/// The ceiling, the traced ceiling, cache-hit and tracing off, side by side. The ceiling is a bare endpoint
/// in the same harness with the same body size (what this machine can do at all), the traced ceiling the same
/// with the gateway's telemetry (what tracing costs any endpoint); tracing off is a second deployment with
/// OTEL_ENABLED=false, which prices the telemetry. Each idles while the others are measured.
/// </summary>
public static class CacheHit
{
    public static async Task RunAsync(Harness bench)
    {
        var options = bench.Options;
        if (!new[] { "ceiling", "ceiling-traced", "cache-hit", "tracing-off", "openai-hit" }.Any(options.Runs)) return;
        await using var quiet = options.Runs("tracing-off")
            ? await Deployment.StartAsync(options.Cluster, tracing: false, bench.Backend.BaseUrl, bench.Spans.BaseUrl)
            : null;
        var answerBytes = 0;
        foreach (var gateway in new[] { bench.Traced, quiet }.OfType<Deployment>())
            answerBytes = await bench.WarmUpAsync(gateway);
        bench.Report["chatResponseBytes"] = answerBytes;

        var contenders = new List<Contender>();
        async Task<ChildProcess?> StartCeilingAsync(string scenario, string name, Uri? traceTo)
        {
            if (!options.Runs(scenario)) return null;
            var (child, graphql) = await Ceiling.StartAsync(scenario, answerBytes, traceTo, options.SampleRatio);
            contenders.Add(new Contender(name, child, graphql, bench.CachedPrompt));
            return child;
        }
        await using var ceiling = await StartCeilingAsync("ceiling", "ceiling", null);
        await using var ceilingTraced = await StartCeilingAsync("ceiling-traced", "ceiling (tracing on)", bench.CeilingSpans.BaseUrl);
        var hit = options.Runs("cache-hit") ? bench.Traced : null;
        if (hit is not null)
            contenders.Add(bench.Observed("cache-hit", hit, bench.CachedPrompt));
        if (options.Runs("openai-hit") && bench.Traced is { } door)
            contenders.Add(bench.Observed("openai cache-hit", door, bench.OpenAICachedPrompt, "/v1/chat/completions"));
        if (quiet is not null)
            contenders.Add(new Contender("cache-hit (tracing off)", quiet.GatewayProcess, new Uri(quiet.Gateway, "/graphql"), bench.CachedPrompt));
        if (hit is not null)
            await Task.Delay(TimeSpan.FromSeconds(6)); // the warm-up's spans arrive before the count starts
        var traced = new List<(string, OtlpReceiver)>();
        if (hit is not null && !options.Runs("openai-hit")) traced.Add(("cache-hit", bench.Spans)); // the door's spans would be counted as its
        if (ceilingTraced is not null) traced.Add(("ceiling (tracing on)", bench.CeilingSpans));
        await bench.SideBySideAsync(contenders, [.. traced]);
    }
}
