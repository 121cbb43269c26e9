using System.Text.Json;
using Opossum.Testing.Backends;
using Opossum.Testing.Processes;
using Opossum.Testing.Telemetry;

namespace Opossum.Bench;

/// <summary>
/// What the scenarios share: the options, the load generator's client, the loopback backend (Ollama's
/// protocol, answering after the configured latency), the OTLP collectors, the deployment with tracing
/// on, the chat bodies, and the report their figures go to.
/// </summary>
public sealed class Harness : IAsyncDisposable
{
    private const string ChatQuery = "mutation Chat($input: ChatInput!) { chat(input: $input) { message conversationId cached } }";

    /// <summary>A typical short answer (~200 bytes), the backend's to every chat.</summary>
    private const string Answer = "Opossums are marsupials native to the Americas. They eat ticks, play dead when threatened, and are largely immune to snake venom. The Virginia opossum is the only one found north of Mexico.";

    private Harness(BenchOptions options, FakeOllama backend, OtlpReceiver spans, OtlpReceiver ceilingSpans)
    {
        Options = options;
        Backend = backend;
        Spans = spans;
        CeilingSpans = ceilingSpans;
        Http = Load.Client(Math.Max(options.Concurrency, 200));
        Report = new Report(options);
    }

    public BenchOptions Options { get; }

    public HttpClient Http { get; }

    public FakeOllama Backend { get; }

    /// <summary>The collector every gateway exports to.</summary>
    public OtlpReceiver Spans { get; }

    /// <summary>The collector of the traced ceiling.</summary>
    public OtlpReceiver CeilingSpans { get; }

    /// <summary>The deployment with tracing on, the configuration production runs; null when no scenario that needs it runs.</summary>
    public Deployment? Traced { get; private set; }

    /// <summary>The traced gateway's resident memory when it had just started, in MiB.</summary>
    public double TracedRssAtStartMiB { get; private set; } = double.NaN;

    public Report Report { get; }

    /// <summary>A chat for the prompt every deployment has cached after its warm-up.</summary>
    public byte[] CachedPrompt { get; } = Chat("What is an opossum?");

    /// <summary>A chat that skips the cache: every one reaches the backend.</summary>
    public byte[] MissPrompt { get; } = Chat("Tell me something new about opossums.", noCache: true);

    /// <summary>The cached prompt through the OpenAI door (the same model, so the same cache entry as <see cref="CachedPrompt"/>).</summary>
    public byte[] OpenAICachedPrompt { get; } = OpenAIChat("What is an opossum?");

    /// <summary>The miss prompt through the OpenAI door; it skips the cache with <c>Cache-Control: no-cache</c>.</summary>
    public byte[] OpenAIMissPrompt { get; } = OpenAIChat("Tell me something new about opossums.");

    public static byte[] OpenAIChat(string message) =>
        Load.Json(JsonSerializer.Serialize(new { model = "gemma3:1b", messages = new[] { new { role = "user", content = message } } }));

    public static byte[] Chat(string message, bool noCache = false) =>
        Load.Json(JsonSerializer.Serialize(new { query = ChatQuery, variables = new { input = new { message, noCache } } }));

    public static async Task<Harness> StartAsync(BenchOptions options)
    {
        // The harness's sockets complete on their event threads, not through the thread pool: the load generator
        // and the loopback backend then add less to every measured request (docs/performance.md). Read by the
        // runtime when the first socket is made, so set before any; child processes (gateway, silos, ceiling)
        // do not inherit it and run as shipped.
        Environment.SetEnvironmentVariable(ChildProcess.InlineCompletionsVariable, "1");
        Console.WriteLine($"Opossum benchmark: {options.Describe()}");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024 * 1024.0):0.#} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");

        var backend = await FakeOllama.StartAsync(latency: TimeSpan.FromMilliseconds(options.BackendLatencyMs), inline: true);
        backend.Answer = Answer;
        // Not inline: the collectors read bodies of hundreds of spans, not work for the event thread the load generator's sockets share.
        var harness = new Harness(options, backend, await OtlpReceiver.StartAsync(decodeSpans: false), await OtlpReceiver.StartAsync(decodeSpans: false));
        if (BenchOptions.Scenarios.Any(s => s is not ("tracing-off" or "gemini-capacity" or "streams") && options.Runs(s)))
        {
            harness.Traced = await Deployment.StartAsync(options.Cluster, tracing: true, backend.BaseUrl, harness.Spans.BaseUrl, options.SampleRatio);
            harness.TracedRssAtStartMiB = harness.Traced.GatewayProcess.RssMiB();
        }
        return harness;
    }

    /// <summary>
    /// Scenarios compared with each other run side by side, in interleaved rounds: their figures are recorded
    /// and printed. Each traced contender is named with the collector its spans go to: spans exported per
    /// request are counted there.
    /// </summary>
    public async Task SideBySideAsync(IReadOnlyList<Contender> contenders, params (string Name, OtlpReceiver Collector)[] traced)
    {
        var spansBefore = traced.Select(t => t.Collector.SpanCount).ToArray();
        var measured = await Rounds.RunAsync(Http, contenders, Options.Rounds, Options.Concurrency, Options.Warmup, Options.WindowWarmup, Options.Duration);
        foreach (var m in measured)
        {
            Report.Add(m);
            var all = m.Combined;
            Console.WriteLine($"{m.Name}, {Options.Rounds} round(s) together: {all.Throughput:0} req/s, p50 {all.P50:0.00} ms, p90 {all.P90:0.00} ms, p99 {all.P99:0.00} ms, " +
                $"{all.Errors} errors{(all.FirstError is null ? "" : $" (first: {all.FirstError})")}{(m.Cpu is null ? "" : $"; {m.Cpu}")}");
        }
        if (traced.Length == 0) return;
        // Spans still in an exporter's batch arrive within its schedule (5 s); the other contenders export none.
        await Task.Delay(TimeSpan.FromSeconds(6));
        for (var i = 0; i < traced.Length; i++)
        {
            var (name, collector) = traced[i];
            var perRequest = (collector.SpanCount - spansBefore[i]) / (double)Math.Max(1, measured.Single(m => m.Name == name).TotalSent);
            Report.SpansPerRequest[name] = perRequest;
            Console.WriteLine($"  {name}: spans exported per request {perRequest:0.00}" +
                (Report.GatewayCounters.TryGetValue(name, out var observed) ? $"\n  gateway counters: {JsonSerializer.Serialize(observed)}" : ""));
        }
    }

    /// <summary>A contender on a gateway that also reads the gateway's runtime counters around each window: CPU and allocations per request.</summary>
    public Contender Observed(string name, Deployment gateway, byte[] body, string path = "/graphql")
    {
        var total = Counters.Zero;
        var before = Counters.Zero;
        long requests = 0;
        return new Contender(name, gateway.GatewayProcess, new Uri(gateway.Gateway, path), body)
        {
            BeforeWindow = async () => before = await Counters.ReadAsync(Http, gateway.Gateway),
            AfterWindow = async window =>
            {
                total = total.Plus(before, await Counters.ReadAsync(Http, gateway.Gateway));
                requests += window.Sent; // each window's warm-up is in the counters too
                Report.GatewayCounters[name] = total.PerRequest(requests);
            },
        };
    }

    /// <summary>
    /// A new deployment compiles its hot paths under its first load; that load is not what a scenario
    /// measures. Returns the size of the cached answer, which the ceiling's answer matches.
    /// </summary>
    public async Task<int> WarmUpAsync(Deployment gateway)
    {
        var graphql = new Uri(gateway.Gateway, "/graphql");
        int answerBytes;
        using (var prime = await Http.SendAsync(Load.Post(graphql, CachedPrompt)))
            answerBytes = (await prime.Content.ReadAsByteArrayAsync()).Length;
        // The harness reads the gateway's counters from /metrics around every window. Scraped only there, the
        // exposition's serializer and the observable instruments it collects reached the JIT's call counts in
        // the measured windows (most of it Prometheus text formatting); scraped here, as a Prometheus server
        // would, that is done before anything is measured.
        using var warmedUp = new CancellationTokenSource();
        var scrapes = ScrapeUntilAsync(new Uri(gateway.Gateway, "/metrics"), warmedUp.Token);
        var warm = await Load.RunAsync("deployment warm-up", Http, _ => Load.Post(graphql, CachedPrompt), Options.Concurrency, TimeSpan.Zero, Options.DeploymentWarmup);
        await warmedUp.CancelAsync();
        var scraped = await scrapes;
        Console.WriteLine($"deployment warm-up: {warm.Throughput:0} req/s for {Options.DeploymentWarmup.TotalSeconds:0} s, {warm.Errors} errors, /metrics scraped {scraped} times");
        return answerBytes;
    }

    private async Task<int> ScrapeUntilAsync(Uri metrics, CancellationToken stop)
    {
        var scraped = 0;
        while (!stop.IsCancellationRequested)
        {
            // An untraced gateway answers 503 (no metrics): nothing to compile, and nothing to fail on.
            using (await Http.GetAsync(metrics, CancellationToken.None)) scraped++;
            try { await Task.Delay(TimeSpan.FromMilliseconds(100), stop); }
            catch (OperationCanceledException) { }
        }
        return scraped;
    }

    public async ValueTask DisposeAsync()
    {
        if (Traced is not null)
            await Traced.DisposeAsync();
        Http.Dispose();
        await CeilingSpans.DisposeAsync();
        await Spans.DisposeAsync();
        await Backend.DisposeAsync();
    }
}
