namespace Opossum.Bench.Scenarios;

/// <summary>
/// Sustained cache-hit load, every request a new one-shot conversation: the gateway's resident memory at
/// start, after a warm-up and at the end, and the activations per grain type left behind.
/// </summary>
public static class Memory
{
    public static async Task RunAsync(Harness bench)
    {
        var options = bench.Options;
        if (!options.Runs("memory") || bench.Traced is not { } gateway) return;
        var graphql = new Uri(gateway.Gateway, "/graphql");
        await Load.RunAsync("soak-warmup", bench.Http, _ => Load.Post(graphql, bench.CachedPrompt), options.Concurrency, TimeSpan.Zero, options.SoakWarmup);
        var rssAfterWarmup = gateway.GatewayProcess.RssMiB();
        var soak = await Load.RunAsync("soak", bench.Http, _ => Load.Post(graphql, bench.CachedPrompt), options.Concurrency, TimeSpan.Zero, options.Soak);
        var rssEnd = gateway.GatewayProcess.RssMiB();
        await Task.Delay(TimeSpan.FromSeconds(2)); // let the last one-shot activations go
        var activations = await gateway.ActivationsAsync();
        var rssStart = bench.TracedRssAtStartMiB;
        bench.Report["memory"] = new
        {
            seconds = options.Soak.TotalSeconds,
            requests = (long)(soak.Throughput * soak.Seconds),
            throughput = soak.Throughput,
            errors = soak.Errors,
            rssMiB = new { start = rssStart, afterWarmup = rssAfterWarmup, end = rssEnd },
            growth = rssEnd / rssAfterWarmup,
            activations,
        };
        Console.WriteLine($"memory: {soak.Throughput * soak.Seconds:0} one-shot chats in {options.Soak.TotalSeconds:0} s; gateway RSS {rssStart:0} MiB at start, {rssAfterWarmup:0} after warm-up, {rssEnd:0} at the end ({rssEnd / rssAfterWarmup:0.00}x)");
        Console.WriteLine("activations: " + string.Join(", ", activations.OrderBy(a => a.Key).Select(a => $"{a.Key} {a.Value}")));
    }
}
