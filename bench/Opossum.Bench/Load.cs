using System.Diagnostics;
using System.Net;
using System.Text;

namespace Opossum.Bench;

/// <summary>Closed-loop load: a fixed number of workers each sending one request after another.</summary>
public static class Load
{
    public static HttpClient Client(int concurrency) => new(new SocketsHttpHandler
    {
        MaxConnectionsPerServer = concurrency,
        PooledConnectionLifetime = Timeout.InfiniteTimeSpan,
        UseProxy = false,
    })
    { Timeout = TimeSpan.FromSeconds(60) };

    public static HttpRequestMessage Post(Uri url, byte[] body)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new ByteArrayContent(body), Version = HttpVersion.Version11 };
        request.Content.Headers.ContentType = new("application/json");
        request.Headers.Accept.ParseAdd("application/graphql-response+json");
        return request;
    }

    public static byte[] Json(string text) => Encoding.UTF8.GetBytes(text);

    /// <param name="answered">Whether an answer without errors is the one asked for; one that is not counts as an error.</param>
    public static async Task<Measurement> RunAsync(string name, HttpClient http, Func<int, HttpRequestMessage> request,
        int concurrency, TimeSpan warmup, TimeSpan duration, IProgress<bool>? window = null, Func<string, bool>? answered = null)
    {
        var clock = Stopwatch.StartNew();
        var measureFrom = warmup;
        var stopAt = warmup + duration;
        var latencies = new List<long>[concurrency];
        var errors = 0L;
        var sent = 0L;
        string? firstError = null;
        var workers = Enumerable.Range(0, concurrency).Select(w => Task.Run(async () =>
        {
            var mine = latencies[w] = new List<long>(4096);
            for (var n = 0; clock.Elapsed < stopAt; n++)
            {
                var started = Stopwatch.GetTimestamp();
                var ok = false;
                string? problem = null;
                try
                {
                    using var message = request(w * 1_000_000 + n);
                    using var response = await http.SendAsync(message);
                    var body = await response.Content.ReadAsStringAsync();
                    ok = response.IsSuccessStatusCode && !body.Contains("\"errors\"", StringComparison.Ordinal) && answered?.Invoke(body) != false;
                    if (!ok) problem = $"{(int)response.StatusCode} {body[..Math.Min(body.Length, 200)]}";
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    problem = ex.Message;
                }
                var elapsed = Stopwatch.GetTimestamp() - started;
                Interlocked.Increment(ref sent);
                if (clock.Elapsed < measureFrom) continue;
                if (ok) mine.Add(elapsed);
                else
                {
                    Interlocked.Increment(ref errors);
                    Interlocked.CompareExchange(ref firstError, problem, null);
                }
            }
        })).ToList();
        // The window reports true when the measured part starts and false when it ends.
        await Task.Delay(warmup);
        window?.Report(true);
        await Task.WhenAll(workers);
        window?.Report(false);
        // The requests in flight at the end are answered after it and counted: the rate is over the time until the last.
        var measured = clock.Elapsed - measureFrom;
        var all = latencies.SelectMany(l => l).Order().ToArray();
        return Measurement.Of(name, concurrency, measured.TotalSeconds, all, errors, firstError, sent);
    }

    internal static double Percentile(long[] sorted, double p) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(p * sorted.Length))] * 1000.0 / Stopwatch.Frequency;
}

/// <summary>One scenario's figures; latencies in milliseconds.</summary>
public sealed record Measurement(string Scenario, int Concurrency, double Seconds, double Throughput, double P50, double P90, double P99, long Errors, string? FirstError)
{
    /// <summary>Requests answered or failed after the warm-up.</summary>
    public long Measured => (long)Math.Round(Throughput * Seconds) + Errors;

    /// <summary>Requests sent in all, warm-up included.</summary>
    public long Sent { get; init; }

    /// <summary>Latencies of the requests answered after the warm-up, sorted, in <see cref="Stopwatch"/> ticks.</summary>
    [System.Text.Json.Serialization.JsonIgnore]
    public long[] Latencies { get; init; } = [];

    public static Measurement Of(string name, int concurrency, double seconds, long[] sortedLatencies, long errors, string? firstError, long sent) =>
        new(name, concurrency, seconds, sortedLatencies.Length / seconds, Load.Percentile(sortedLatencies, 0.50),
            Load.Percentile(sortedLatencies, 0.90), Load.Percentile(sortedLatencies, 0.99), errors, firstError)
        { Sent = sent, Latencies = sortedLatencies };

    /// <summary>Several windows of one scenario as one: their requests, seconds and latencies together.</summary>
    public static Measurement Combine(string name, IReadOnlyList<Measurement> windows) =>
        Of(name, windows[0].Concurrency, windows.Sum(w => w.Seconds), windows.SelectMany(w => w.Latencies).Order().ToArray(),
            windows.Sum(w => w.Errors), windows.Select(w => w.FirstError).FirstOrDefault(e => e is not null), windows.Sum(w => w.Sent));
}
