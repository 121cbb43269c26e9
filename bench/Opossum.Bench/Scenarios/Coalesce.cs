namespace Opossum.Bench.Scenarios;

/// <summary>200 identical new prompts at once: the backend counts its calls, one if they were coalesced.</summary>
public static class Coalesce
{
    private const int Requests = 200;

    public static async Task RunAsync(Harness bench)
    {
        if (!bench.Options.Runs("coalesce") || bench.Traced is not { } gateway) return;
        var graphql = new Uri(gateway.Gateway, "/graphql");
        var fresh = $"A brand new question {Guid.NewGuid():N}";
        var body = Harness.Chat(fresh);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var replies = await Task.WhenAll(Enumerable.Range(0, Requests).Select(async _ =>
        {
            using var response = await bench.Http.SendAsync(Load.Post(graphql, body));
            var text = await response.Content.ReadAsStringAsync();
            return response.IsSuccessStatusCode && !text.Contains("\"errors\"");
        }));
        var answered = replies.Count(r => r);
        var backendCalls = bench.Backend.CallsContaining(fresh);
        bench.Report["coalesce"] = new { requests = Requests, answered, backendCalls, milliseconds = started.Elapsed.TotalMilliseconds };
        Console.WriteLine($"coalesce: {Requests} requests, {answered} answered, backend calls {backendCalls}, {started.Elapsed.TotalMilliseconds:0} ms");
    }
}
