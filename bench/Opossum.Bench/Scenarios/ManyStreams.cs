using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Opossum.Testing.Backends;

namespace Opossum.Bench.Scenarios;

/// <summary>
/// 1 000 streams open at once on one gateway, distinct prompts, against a backend that writes a word every
/// 500 ms: every stream must complete, and the gateway's resident memory after the run must stay within
/// 1.5× of what it was before it.
/// </summary>
public static class ManyStreams
{
    private const int Streams = 1000;
    private const string Stream = "subscription Stream($input: ChatInput!) { chatStream(input: $input) { delta done } }";

    public static async Task RunAsync(Harness bench)
    {
        var options = bench.Options;
        if (!options.Runs("streams")) return;
        var streams = options.Smoke ? 100 : Streams;
        await using var backend = await FakeOllama.StartAsync();
        backend.ChunkDelay = TimeSpan.FromMilliseconds(500);
        backend.Answer = "Opossums eat ticks and play dead when threatened.";
        await using var gateway = await Deployment.StartAsync(options.Cluster, tracing: true, backend.BaseUrl, bench.Spans.BaseUrl, ollamaParallelism: streams);
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = streams + 10, UseProxy = false, PooledConnectionLifetime = Timeout.InfiniteTimeSpan })
        {
            Timeout = TimeSpan.FromMinutes(5),
        };
        var graphql = new Uri(gateway.Gateway, "/graphql");
        var run = Guid.NewGuid().ToString("N")[..8];

        // One burst of as many streams first: what is compiled, pooled and sized once for that many is in the figure
        // before, so the figure after says whether a run leaves memory behind.
        var started = gateway.GatewayProcess.RssMiB();
        await Task.WhenAll(Enumerable.Range(0, streams).Select(n => StreamAsync(http, graphql, $"warm-up {n} of {run}")));
        await Task.Delay(TimeSpan.FromSeconds(2));
        var before = gateway.GatewayProcess.RssMiB();
        var clock = Stopwatch.StartNew();
        var results = await Task.WhenAll(Enumerable.Range(0, streams).Select(n => StreamAsync(http, graphql, $"Stream {n} of run {run}: what do opossums eat?")));
        var seconds = clock.Elapsed.TotalSeconds;
        await Task.Delay(TimeSpan.FromSeconds(2));
        var after = gateway.GatewayProcess.RssMiB();
        var completed = results.Count(r => r.Completed);
        var maxChunks = results.Max(r => r.Chunks);
        bench.Report["streams"] = new
        {
            streams, completed, seconds, rssAtStartMiB = started, rssBeforeMiB = before, rssAfterMiB = after, rssRatio = after / before,
            backendCalls = backend.Calls.Count, chunksPerStream = maxChunks,
            firstFailure = results.FirstOrDefault(r => !r.Completed).Failure,
        };
        bench.Report.Notes["streams"] = $"{completed} of {streams} streams completed in {seconds:0.0} s; RSS {before:0} -> {after:0} MiB ({after / before:0.00}x; {started:0} MiB at start)";
        Console.WriteLine($"streams: {streams} at once, {completed} completed in {seconds:0.0} s ({maxChunks} chunks each), backend calls {backend.Calls.Count}; " +
            $"gateway RSS {started:0} MiB at start, {before:0} MiB after a first burst, {after:0} MiB after the run ({after / before:0.00}x)" +
            (completed == streams ? "" : $"; first failure: {results.First(r => !r.Completed).Failure}"));
    }

    private static async Task<(bool Completed, int Chunks, string? Failure)> StreamAsync(HttpClient http, Uri graphql, string message)
    {
        try
        {
            using var request = Load.Post(graphql, Load.Json(JsonSerializer.Serialize(new { query = Stream, variables = new { input = new { message } } })));
            request.Headers.Accept.Clear();
            request.Headers.Accept.ParseAdd("text/event-stream");
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            if (response.StatusCode != HttpStatusCode.OK) return (false, 0, $"HTTP {(int)response.StatusCode}");
            var text = await response.Content.ReadAsStringAsync();
            var chunks = text.Split("event: next").Length - 1;
            var done = text.Contains("\"done\":true", StringComparison.Ordinal) && text.Contains("event: complete", StringComparison.Ordinal);
            return (done, chunks, done ? null : text.Length > 300 ? text[^300..] : text);
        }
        catch (Exception ex)
        {
            return (false, 0, ex.Message);
        }
    }
}
