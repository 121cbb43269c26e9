using System.Diagnostics;
using System.Net;
using System.Text.Json;

namespace Opossum.Bench.Scenarios;

/// <summary>
/// Streamed answers that skip the cache, over text/event-stream, in interleaved windows with the backend
/// alone streaming the same answer directly: the time to the first chunk through the gateway minus the
/// backend's own time to its first chunk is what the gateway adds before a client sees anything. The
/// backend writes a word every <see cref="WordEvery"/>, a model's pace (50 tokens/s), after its latency.
/// </summary>
public static class FirstChunk
{
    private const string Stream = "subscription Stream($input: ChatInput!) { chatStream(input: $input) { delta done } }";
    private static readonly TimeSpan WordEvery = TimeSpan.FromMilliseconds(20);

    public static async Task RunAsync(Harness bench)
    {
        if (!bench.Options.Runs("first-chunk") || bench.Traced is not { } gateway) return;
        var options = bench.Options;
        var graphql = new Uri(gateway.Gateway, "/graphql");
        var direct = Load.Json(JsonSerializer.Serialize(new { model = "gemma3:1b", stream = true, messages = new[] { new { role = "user", content = "Stream something new about opossums." } } }));
        var streamed = Load.Json(JsonSerializer.Serialize(new { query = Stream, variables = new { input = new { message = "Stream something new about opossums.", noCache = true } } }));
        var contenders = new (string Name, Func<HttpRequestMessage> Request, string FirstChunk)[]
        {
            ("backend alone (streamed)", () => Load.Post(new Uri(bench.Backend.BaseUrl, "/api/chat"), direct), "\n"),
            ("first-chunk", () => EventStream(graphql, streamed), "event: next"),
        };
        var samples = contenders.Select(_ => new List<double>()).ToArray();
        bench.Backend.ChunkDelay = WordEvery;
        var errors = new long[contenders.Length];
        var window = options.Duration / options.Rounds;
        for (var round = 0; round < options.Rounds; round++)
        {
            for (var c = 0; c < contenders.Length; c++)
            {
                var (_, request, marker) = contenders[c];
                var (times, failed) = await WindowAsync(bench.Http, request, marker, options.Concurrency, round == 0 ? options.Warmup : options.WindowWarmup, window);
                samples[c].AddRange(times);
                errors[c] += failed;
            }
        }
        bench.Backend.ChunkDelay = TimeSpan.Zero;
        var p50 = samples.Select(s => Percentile(s, 0.50)).ToArray();
        var p99 = samples.Select(s => Percentile(s, 0.99)).ToArray();
        var overhead = p50[1] - p50[0];
        bench.Report["firstChunk"] = new
        {
            concurrency = options.Concurrency,
            backendLatencyMs = options.BackendLatencyMs,
            gatewayP50Ms = p50[1], gatewayP99Ms = p99[1], gatewayStreams = samples[1].Count, gatewayErrors = errors[1],
            backendP50Ms = p50[0], backendP99Ms = p99[0], backendStreams = samples[0].Count, backendErrors = errors[0],
            overheadP50Ms = overhead,
        };
        bench.Report.Notes["first-chunk"] = $"time to first chunk p50 {p50[1]:0.00} ms through the gateway, {p50[0]:0.00} ms from the backend alone: overhead p50 {overhead:0.00} ms";
        Console.WriteLine($"first-chunk, {options.Rounds} round(s): through the gateway p50 {p50[1]:0.00} ms, p99 {p99[1]:0.00} ms ({samples[1].Count} streams, {errors[1]} errors); " +
            $"backend alone p50 {p50[0]:0.00} ms, p99 {p99[0]:0.00} ms ({samples[0].Count} streams, {errors[0]} errors): overhead p50 {overhead:0.00} ms");
    }

    private static HttpRequestMessage EventStream(Uri graphql, byte[] body)
    {
        var request = Load.Post(graphql, body);
        request.Headers.Accept.Clear();
        request.Headers.Accept.ParseAdd("text/event-stream");
        return request;
    }

    // Closed loop: each client reads a response until the first chunk (timed), then to its end, and sends the next.
    private static async Task<(List<double> Times, long Errors)> WindowAsync(HttpClient http, Func<HttpRequestMessage> request, string marker,
        int concurrency, TimeSpan warmup, TimeSpan duration)
    {
        var clock = Stopwatch.StartNew();
        var times = new List<double>();
        long errors = 0;
        await Task.WhenAll(Enumerable.Range(0, concurrency).Select(_ => Task.Run(async () =>
        {
            var buffer = new byte[16 * 1024];
            while (clock.Elapsed < warmup + duration)
            {
                var started = Stopwatch.GetTimestamp();
                double? first = null;
                try
                {
                    using var response = await http.SendAsync(request(), HttpCompletionOption.ResponseHeadersRead);
                    if (response.StatusCode != HttpStatusCode.OK) throw new HttpRequestException($"HTTP {(int)response.StatusCode}");
                    await using var body = await response.Content.ReadAsStreamAsync();
                    var seen = "";
                    int read;
                    while ((read = await body.ReadAsync(buffer)) > 0)
                    {
                        if (first is null)
                        {
                            seen += System.Text.Encoding.UTF8.GetString(buffer, 0, read);
                            if (seen.Contains(marker, StringComparison.Ordinal))
                                first = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                        }
                    }
                    if (first is null) throw new InvalidOperationException("the response ended without a chunk");
                }
                catch (Exception)
                {
                    Interlocked.Increment(ref errors);
                    continue;
                }
                if (clock.Elapsed > warmup)
                    lock (times) times.Add(first.Value);
            }
        })));
        return (times, errors);
    }

    private static double Percentile(List<double> values, double q)
    {
        if (values.Count == 0) return double.NaN;
        var sorted = values.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)Math.Ceiling(q * sorted.Count) - 1)];
    }
}
