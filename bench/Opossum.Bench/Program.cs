using Microsoft.Extensions.Hosting;
using System.Text.Json;
using Opossum.Bench;

// Child mode: the ceiling endpoint runs in a process of its own, like the gateway it is compared with; with
// --traced, it runs Opossum's telemetry wiring too (what tracing costs a bare endpoint).
if (args is ["--serve-ceiling", var portText, var bytesText, .. var rest])
{
    var ceiling = await Servers.StartAsync(app => Servers.MapCeiling(app, int.Parse(bytesText)), int.Parse(portText),
        configure: rest is ["--traced"] ? Servers.AddTelemetry : null);
    await ceiling.WaitForShutdownAsync();
    return 0;
}

// The harness's sockets complete on their event threads, not through the thread pool: every hop the load
// generator or the loopback backend made would be added to each measured request and charged to the
// gateway (docs/performance.md). Read by the runtime when the first socket is made,
// so set before any; child processes (gateway, silos, ceiling) do not inherit it and run as shipped.
Environment.SetEnvironmentVariable(ChildProcess.InlineCompletionsVariable, "1");
BenchOptions options;
try
{
    options = BenchOptions.Parse(args);
}
catch (ArgumentException ex)
{
    Console.Error.WriteLine(ex.Message);
    return 2;
}
if (options.Cluster && !ChildProcess.OnPath("redis-server"))
{
    Console.Error.WriteLine("--cluster starts its own redis-server, which is not on PATH (Debian: apt-get install -y redis-server).");
    return 2;
}
Console.WriteLine($"Opossum benchmark: {options.Describe()}");
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024 * 1024.0):0.#} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");

var backendLatency = TimeSpan.FromMilliseconds(options.BackendLatencyMs);
var ollama = new Servers.Ollama(backendLatency);
await using var backend = await Servers.StartAsync(ollama.Map, inline: true);
var spans = new Servers.Sink();
// Not inline: the sink decodes bodies of hundreds of spans, not work for the event thread the load generator's sockets share.
await using var sink = await Servers.StartAsync(spans.Map);
var ceilingSpans = new Servers.Sink();
await using var ceilingSink = await Servers.StartAsync(ceilingSpans.Map);
using var http = Load.Client(Math.Max(options.Concurrency, 200));
var results = new List<Measurement>();
var cpuPerRequest = new Dictionary<string, CpuPerRequest>();
var spansPerRequest = new Dictionary<string, double>();
var report = new Dictionary<string, object?>
{
    ["cpuPerRequest"] = cpuPerRequest,
    ["spansExportedPerRequest"] = spansPerRequest,
    ["machine"] = new { cores = Environment.ProcessorCount, os = System.Runtime.InteropServices.RuntimeInformation.OSDescription, dotnet = Environment.Version.ToString() },
    ["options"] = options,
    ["startedAt"] = DateTimeOffset.UtcNow,
};

const string ChatQuery = "mutation Chat($input: ChatInput!) { chat(input: $input) { message conversationId cached } }";
byte[] Chat(string message, bool noCache = false) =>
    Load.Json(JsonSerializer.Serialize(new { query = ChatQuery, variables = new { input = new { message, noCache } } }));
var cachedPrompt = Load.Json(JsonSerializer.Serialize(new { query = ChatQuery, variables = new { input = new { message = "What is an opossum?" } } }));
var missPrompt = Chat("Tell me something new about opossums.", noCache: true);

// Scenarios compared with each other run side by side, in interleaved rounds: their figures are recorded and printed.
var rounds = new Dictionary<string, IReadOnlyList<Measurement>>();
var counters = new Dictionary<string, object>();
report["gatewayCounters"] = counters;
// Each traced contender is named with the sink its spans go to: spans exported per request are counted there.
async Task SideBySideAsync(IReadOnlyList<Contender> contenders, params (string Name, Servers.Sink Sink)[] traced)
{
    var spansBefore = traced.Select(t => t.Sink.Spans).ToArray();
    var measured = await Rounds.RunAsync(http, contenders, options.Rounds, options.Concurrency, options.Warmup, options.WindowWarmup, options.Duration);
    foreach (var m in measured)
    {
        results.Add(m.Combined);
        rounds[m.Name] = m.PerRound;
        if (m.Cpu is not null) cpuPerRequest[m.Name] = m.Cpu;
        var all = m.Combined;
        Console.WriteLine($"{m.Name}, {options.Rounds} round(s) together: {all.Throughput:0} req/s, p50 {all.P50:0.00} ms, p90 {all.P90:0.00} ms, p99 {all.P99:0.00} ms, " +
            $"{all.Errors} errors{(all.FirstError is null ? "" : $" (first: {all.FirstError})")}{(m.Cpu is null ? "" : $"; {m.Cpu}")}");
    }
    if (traced.Length == 0) return;
    // Spans still in an exporter's batch arrive within its schedule (5 s); the other contenders export none.
    await Task.Delay(TimeSpan.FromSeconds(6));
    for (var i = 0; i < traced.Length; i++)
    {
        var (name, sink) = traced[i];
        spansPerRequest[name] = (sink.Spans - spansBefore[i]) / (double)Math.Max(1, measured.Single(m => m.Name == name).TotalSent);
        Console.WriteLine($"  {name}: spans exported per request {spansPerRequest[name]:0.00}" +
            (counters.TryGetValue(name, out var observed) ? $"\n  gateway counters: {JsonSerializer.Serialize(observed)}" : ""));
    }
}

// A scenario on the traced gateway also reads the gateway's runtime counters around each window: CPU and allocations per request.
Contender Observed(string name, Deployment gateway, byte[] body)
{
    var total = Counters.Zero;
    var before = Counters.Zero;
    long requests = 0;
    return new Contender(name, gateway.GatewayProcess, new Uri(gateway.Gateway, "/graphql"), body)
    {
        BeforeWindow = async () => before = await Counters.ReadAsync(http, gateway.Gateway),
        AfterWindow = async window =>
        {
            total = total.Plus(before, await Counters.ReadAsync(http, gateway.Gateway));
            requests += window.Sent; // each window's warm-up is in the counters too
            counters[name] = total.PerRequest(requests);
        },
    };
}

// A new deployment compiles its hot paths under its first load; that load is not what a scenario measures.
async Task<int> WarmUpAsync(Deployment gateway)
{
    var graphql = new Uri(gateway.Gateway, "/graphql");
    int answerBytes;
    using (var prime = await http.SendAsync(Load.Post(graphql, cachedPrompt)))
        answerBytes = (await prime.Content.ReadAsByteArrayAsync()).Length;
    // The harness reads the gateway's counters from /metrics around every window. Scraped only there, the
    // exposition's serializer and the observable instruments it collects reached the JIT's call counts in
    // the measured windows (tier-1 compilation, most of it Prometheus text formatting);
    // scraped here, as a Prometheus server would, that is done before anything is measured.
    using var warmedUp = new CancellationTokenSource();
    var scrapes = ScrapeUntilAsync(new Uri(gateway.Gateway, "/metrics"), warmedUp.Token);
    var warm = await Load.RunAsync("deployment warm-up", http, _ => Load.Post(graphql, cachedPrompt), options.Concurrency, TimeSpan.Zero, options.DeploymentWarmup);
    await warmedUp.CancelAsync();
    var scraped = await scrapes;
    Console.WriteLine($"deployment warm-up: {warm.Throughput:0} req/s for {options.DeploymentWarmup.TotalSeconds:0} s, {warm.Errors} errors, /metrics scraped {scraped} times");
    return answerBytes;
}

async Task<int> ScrapeUntilAsync(Uri metrics, CancellationToken stop)
{
    var scraped = 0;
    while (!stop.IsCancellationRequested)
    {
        // An untraced gateway answers 503 (no metrics): nothing to compile, and nothing to fail on.
        using (await http.GetAsync(metrics, CancellationToken.None)) scraped++;
        try { await Task.Delay(TimeSpan.FromMilliseconds(100), stop); }
        catch (OperationCanceledException) { }
    }
    return scraped;
}

// --- tracing on (exporting to a loopback sink): the configuration production runs.
var tracingOnScenarios = BenchOptions.Scenarios.Any(s => s is not ("tracing-off" or "gemini-capacity") && options.Runs(s));
await using var deployment = tracingOnScenarios
    ? await Deployment.StartAsync(options.Cluster, tracing: true, backend.Address(), sink.Address(), options.SampleRatio)
    : null;
var rssStart = deployment?.GatewayProcess.RssMiB() ?? double.NaN;
report["mode"] = Deployment.ModeName(options.Cluster);

// --- ceiling, traced ceiling, cache-hit and tracing off, side by side. The ceiling is a bare endpoint in the same
// harness with the same body size (what this machine can do at all), the traced ceiling the same with the gateway's
// telemetry (what tracing costs any endpoint); tracing off is a second deployment with OTEL_ENABLED=false,
// which prices the telemetry. Each idles while the others are measured.
if (options.Runs("ceiling") || options.Runs("ceiling-traced") || options.Runs("cache-hit") || options.Runs("tracing-off"))
{
    await using var quiet = options.Runs("tracing-off")
        ? await Deployment.StartAsync(options.Cluster, tracing: false, backend.Address(), sink.Address())
        : null;
    var answerBytes = 0;
    foreach (var gateway in new[] { deployment, quiet }.OfType<Deployment>())
        answerBytes = await WarmUpAsync(gateway);
    report["chatResponseBytes"] = answerBytes;

    // The ceiling, and with ceiling-traced the same endpoint with Opossum's telemetry exporting to a sink of its own.
    var contenders = new List<Contender>();
    async Task<ChildProcess?> StartCeilingAsync(string scenario, Uri? traceTo)
    {
        if (!options.Runs(scenario)) return null;
        var port = Ports.Free();
        // A traced ceiling is configured as the traced gateway is: the same variables, sampling as it does (--sample).
        var traced = traceTo is null ? null : new Dictionary<string, string>(Deployment.Sampling(options.SampleRatio))
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = traceTo.ToString(),
            ["OTEL_SERVICE_NAME"] = "opossum-bench-ceiling",
        };
        var child = ChildProcess.Start(scenario, "dotnet",
            $"\"{typeof(Program).Assembly.Location}\" --serve-ceiling {port} {answerBytes}{(traced is null ? "" : " --traced")}", traced);
        await child.WaitForPortAsync(port, TimeSpan.FromSeconds(30));
        contenders.Add(new Contender(traceTo is null ? "ceiling" : "ceiling (tracing on)", child, new Uri($"http://127.0.0.1:{port}/graphql"), cachedPrompt));
        return child;
    }
    await using var ceiling = await StartCeilingAsync("ceiling", null);
    await using var ceilingTraced = await StartCeilingAsync("ceiling-traced", ceilingSink.Address());
    if (options.Runs("cache-hit"))
        contenders.Add(Observed("cache-hit", deployment!, cachedPrompt));
    if (quiet is not null)
        contenders.Add(new Contender("cache-hit (tracing off)", quiet.GatewayProcess, new Uri(quiet.Gateway, "/graphql"), cachedPrompt));
    if (options.Runs("cache-hit"))
        await Task.Delay(TimeSpan.FromSeconds(6)); // the warm-up's spans arrive before the count starts
    var traced = new List<(string, Servers.Sink)>();
    if (options.Runs("cache-hit")) traced.Add(("cache-hit", spans));
    if (ceilingTraced is not null) traced.Add(("ceiling (tracing on)", ceilingSpans));
    await SideBySideAsync(contenders, [.. traced]);
}

if (deployment is not null)
{
    var graphql = new Uri(deployment.Gateway, "/graphql");
    // --- miss-overhead, side by side with the backend alone, called the way the gateway calls it: what the
    // loopback server itself adds to its 50 ms.
    if (options.Runs("miss-overhead"))
    {
        var direct = Load.Json(JsonSerializer.Serialize(new { model = "gemma3:1b", stream = false, messages = new[] { new { role = "user", content = "Tell me something new about opossums." } } }));
        await SideBySideAsync([
            new Contender("backend alone", null, new Uri(backend.Address(), "/api/chat"), direct),
            Observed("miss-overhead", deployment, missPrompt),
        ], ("miss-overhead", spans));
    }

    // --- coalesce: 200 identical new prompts at once; the backend counts its calls.
    if (options.Runs("coalesce"))
    {
        var fresh = $"A brand new question {Guid.NewGuid():N}";
        var coalesceBody = Chat(fresh);
        var started = System.Diagnostics.Stopwatch.StartNew();
        var replies = await Task.WhenAll(Enumerable.Range(0, 200).Select(async _ =>
        {
            using var response = await http.SendAsync(Load.Post(graphql, coalesceBody));
            var text = await response.Content.ReadAsStringAsync();
            return response.IsSuccessStatusCode && !text.Contains("\"errors\"");
        }));
        report["coalesce"] = new { requests = 200, answered = replies.Count(r => r), backendCalls = ollama.CallsFor(fresh), milliseconds = started.Elapsed.TotalMilliseconds };
        Console.WriteLine($"coalesce: 200 requests, {replies.Count(r => r)} answered, backend calls {ollama.CallsFor(fresh)}, {started.Elapsed.TotalMilliseconds:0} ms");
    }

    // --- memory: sustained cache-hit load, every request a new one-shot conversation.
    if (options.Runs("memory"))
    {
        var soakWarmup = await Load.RunAsync("soak-warmup", http, _ => Load.Post(graphql, cachedPrompt), options.Concurrency, TimeSpan.Zero, options.SoakWarmup);
        var rssAfterWarmup = deployment.GatewayProcess.RssMiB();
        var soak = await Load.RunAsync("soak", http, _ => Load.Post(graphql, cachedPrompt), options.Concurrency, TimeSpan.Zero, options.Soak);
        var rssEnd = deployment.GatewayProcess.RssMiB();
        await Task.Delay(TimeSpan.FromSeconds(2)); // let the last one-shot activations go
        var activations = await deployment.ActivationsAsync();
        report["memory"] = new
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

// --- gemini-capacity: 64 clients with distinct prompts (every chat a cache miss) on gemini-thinking, whose API
// answers in 500 ms, on a deployment of its own with every capacity setting as shipped: 64 / 0.5 s = 128 answers/s
// at most, 8 if Gemini were held to 4 generations at once.
var notes = new Dictionary<string, string>();
if (options.Runs("gemini-capacity"))
{
    const int clients = 64;
    var latency = TimeSpan.FromMilliseconds(500);
    var gemini = new Servers.Gemini(latency);
    await using var api = await Servers.StartAsync(gemini.Map, inline: true);
    await using var gateway = await Deployment.StartAsync(options.Cluster, tracing: true, backend.Address(), sink.Address(), gemini: api.Address());
    var graphql = new Uri(gateway.Gateway, "/graphql");
    const string query = "mutation Chat($input: ChatInput!) { chat(input: $input) { message modelUsed } }";
    var run = Guid.NewGuid().ToString("N")[..8];
    // An answer from another model is a fallback: Gemini did not answer it.
    var measured = await Load.RunAsync("gemini-capacity", http,
        n => Load.Post(graphql, Load.Json(JsonSerializer.Serialize(new { query, variables = new { input = new { message = $"Question {n} of run {run}: what do opossums eat?", model = "gemini-thinking" } } }))),
        clients, options.Warmup, options.Duration, answered: body => body.Contains("\"modelUsed\":\"gemini-thinking\"", StringComparison.Ordinal));
    results.Add(measured);
    report["geminiCapacity"] = new
    {
        clients,
        apiLatencyMs = latency.TotalMilliseconds,
        seconds = measured.Seconds,
        answersPerSecond = measured.Throughput,
        p50Ms = measured.P50,
        p99Ms = measured.P99,
        failures = measured.Errors,
        firstFailure = measured.FirstError,
        apiCalls = gemini.Calls,
        maxConcurrentAtApi = gemini.MaxInFlight,
    };
    notes["gemini-capacity"] = $"{clients} clients, API answers in {latency.TotalMilliseconds:0} ms; at most {gemini.MaxInFlight} generations at once at the API" +
        (measured.FirstError is null ? "" : $"; first failure: {measured.FirstError}");
    Console.WriteLine($"gemini-capacity: {clients} clients, distinct prompts, API answers in {latency.TotalMilliseconds:0} ms: {measured.Throughput:0.0} answers/s, " +
        $"p50 {measured.P50:0.0} ms, p99 {measured.P99:0.0} ms, at most {gemini.MaxInFlight} generations at once at the API, " +
        $"{measured.Errors} failures (GraphQL errors or answers from another model){(measured.FirstError is null ? "" : $", first: {measured.FirstError}")}");
}

var table = Report.Build(results, rounds, backendLatency.TotalMilliseconds, notes);
report["rounds"] = rounds.ToDictionary(r => r.Key, r => r.Value.Select(w => new { w.Throughput, w.P50, w.P90, w.P99, w.Errors }));
Console.WriteLine();
Console.WriteLine(Report.Render(table, report));
report["scenarios"] = table;
// Only a full run of the shipped configuration replaces the figures the docs quote.
var file = options.Smoke ? "smoke.json"
    : options.SampleRatio is not null ? "sampled.json"
    : options.Only.Count < BenchOptions.Scenarios.Length ? "partial.json"
    : options.Cluster ? "latest-cluster.json" : "latest.json";
var path = Path.Combine(Repository.Root, "bench", "results", file);
Directory.CreateDirectory(Path.GetDirectoryName(path)!);
await File.WriteAllTextAsync(path, JsonSerializer.Serialize(report, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
Console.WriteLine($"written: {path}");
return results.Any(r => r.Errors > 0) ? 1 : 0;
