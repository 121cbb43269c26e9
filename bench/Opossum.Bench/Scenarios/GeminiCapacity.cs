using System.Text.Json;
using Opossum.Testing.Backends;

namespace Opossum.Bench.Scenarios;

/// <summary>
/// 64 clients with distinct prompts (every chat a cache miss) on gemini-thinking, whose API answers in
/// 500 ms, on a deployment of its own with every capacity setting as shipped: 64 / 0.5 s = 128 answers/s
/// at most, 8 if Gemini were held to 4 generations at once. An answer from another model is a fallback:
/// Gemini did not answer it, and it counts as a failure.
/// </summary>
public static class GeminiCapacity
{
    private const int Clients = 64;
    private const string Query = "mutation Chat($input: ChatInput!) { chat(input: $input) { message modelUsed } }";
    private static readonly TimeSpan Latency = TimeSpan.FromMilliseconds(500);

    public static async Task RunAsync(Harness bench)
    {
        var options = bench.Options;
        if (!options.Runs("gemini-capacity")) return;
        await using var api = await FakeGemini.StartAsync();
        api.Delay = Latency;
        await using var gateway = await Deployment.StartAsync(options.Cluster, tracing: true, bench.Backend.BaseUrl, bench.Spans.BaseUrl, gemini: api.BaseUrl);
        var graphql = new Uri(gateway.Gateway, "/graphql");
        var run = Guid.NewGuid().ToString("N")[..8];
        var measured = await Load.RunAsync("gemini-capacity", bench.Http,
            n => Load.Post(graphql, Load.Json(JsonSerializer.Serialize(new { query = Query, variables = new { input = new { message = $"Question {n} of run {run}: what do opossums eat?", model = "gemini-thinking" } } }))),
            Clients, options.Warmup, options.Duration, answered: body => body.Contains("\"modelUsed\":\"gemini-thinking\"", StringComparison.Ordinal));
        bench.Report.Add(measured);
        bench.Report["geminiCapacity"] = new
        {
            clients = Clients,
            apiLatencyMs = Latency.TotalMilliseconds,
            seconds = measured.Seconds,
            answersPerSecond = measured.Throughput,
            p50Ms = measured.P50,
            p99Ms = measured.P99,
            failures = measured.Errors,
            firstFailure = measured.FirstError,
            apiCalls = api.Calls.Count,
            maxConcurrentAtApi = api.MaxInFlight,
        };
        bench.Report.Notes["gemini-capacity"] = $"{Clients} clients, API answers in {Latency.TotalMilliseconds:0} ms; at most {api.MaxInFlight} generations at once at the API" +
            (measured.FirstError is null ? "" : $"; first failure: {measured.FirstError}");
        Console.WriteLine($"gemini-capacity: {Clients} clients, distinct prompts, API answers in {Latency.TotalMilliseconds:0} ms: {measured.Throughput:0.0} answers/s, " +
            $"p50 {measured.P50:0.0} ms, p99 {measured.P99:0.0} ms, at most {api.MaxInFlight} generations at once at the API, " +
            $"{measured.Errors} failures (GraphQL errors or answers from another model){(measured.FirstError is null ? "" : $", first: {measured.FirstError}")}");
    }
}
