using Microsoft.Extensions.Hosting;
using System.Text.Json;
using Opossum.Bench;

// Child mode: the ceiling endpoint runs in a process of its own, like the gateway it is compared with.
if (args is ["--serve-ceiling", var portText, var bytesText])
{
    var ceiling = await Servers.StartAsync(app => Servers.MapCeiling(app, int.Parse(bytesText)), int.Parse(portText));
    await ceiling.WaitForShutdownAsync();
    return 0;
}

// The harness's sockets complete on their event threads, not through the thread pool: the load generator
// and the loopback backend then add ~0.3-0.5 ms less to every measured request (alternating miss runs:
// backend alone 1.27-1.34 -> 0.76-0.98 ms over 50 ms). Read by the runtime when the first socket is made,
// so set before any; child processes (gateway, silos, ceiling) do not inherit it and run as shipped.
Environment.SetEnvironmentVariable(ChildProcess.InlineCompletionsVariable, "1");
var options = BenchOptions.Parse(args);
Console.WriteLine($"Opossum benchmark: {options.Describe()}");
Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {GC.GetGCMemoryInfo().TotalAvailableMemoryBytes / (1024 * 1024 * 1024.0):0.#} GiB, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}");

var backendLatency = TimeSpan.FromMilliseconds(options.BackendLatencyMs);
var ollama = new Servers.Ollama(backendLatency);
await using var backend = await Servers.StartAsync(ollama.Map, inline: true);
var spans = new Servers.Sink();
// Not inline: the sink decodes bodies of hundreds of spans, not work for the event thread the load generator's sockets share.
await using var sink = await Servers.StartAsync(spans.Map);
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

// One load scenario against one server process: its figures and CPU per request, recorded and printed.
async Task<Measurement> RunScenarioAsync(string name, ChildProcess server, Uri url, byte[] body)
{
    var (measurement, cpu) = await CpuPerRequest.MeasureAsync(server,
        window => Load.RunAsync(name, http, _ => Load.Post(url, body), options.Concurrency, options.Warmup, options.Duration, window));
    cpuPerRequest[name] = cpu;
    results.Add(measurement);
    Console.WriteLine($"{measurement}\n  {cpu}");
    return measurement;
}

// A new deployment compiles its hot paths under its first load; that load is not what a scenario measures.
async Task WarmUpAsync(Uri graphql)
{
    var warm = await Load.RunAsync("deployment warm-up", http, _ => Load.Post(graphql, cachedPrompt), options.Concurrency, TimeSpan.Zero, options.DeploymentWarmup);
    Console.WriteLine($"deployment warm-up: {warm.Throughput:0} req/s for {options.DeploymentWarmup.TotalSeconds:0} s, {warm.Errors} errors");
}

// --- tracing off: the same cache-hit load on a second deployment with OTEL_ENABLED=false, to price the
// telemetry. Run right after cache-hit (the traced deployment idles meanwhile): this machine's speed
// drifts by a third within minutes, and the ratio must compare two neighbouring measurements.
async Task RunTracingOffAsync()
{
    await using var quiet = await Deployment.StartAsync(options.Cluster, tracing: false, backend.Address(), sink.Address());
    var graphql = new Uri(quiet.Gateway, "/graphql");
    using (await http.SendAsync(Load.Post(graphql, cachedPrompt))) { }
    await WarmUpAsync(graphql);
    await RunScenarioAsync("cache-hit (tracing off)", quiet.GatewayProcess, graphql, cachedPrompt);
}

// --- tracing on (exporting to a loopback sink): the configuration production runs.
var tracingOnScenarios = BenchOptions.Scenarios.Any(s => s != "tracing-off" && options.Runs(s));
if (tracingOnScenarios)
await using (var deployment = await Deployment.StartAsync(options.Cluster, tracing: true, backend.Address(), sink.Address(), options.SampleRatio))
{
    var graphql = new Uri(deployment.Gateway, "/graphql");
    var rssStart = deployment.GatewayProcess.RssMiB();
    using (var prime = await http.SendAsync(Load.Post(graphql, cachedPrompt)))
    {
        var body = await prime.Content.ReadAsByteArrayAsync();
        report["chatResponseBytes"] = body.Length;

        // --- ceiling: same harness, same body size, nothing behind it.
        if (options.Runs("ceiling"))
        {
            var ceilingPort = Ports.Free();
            await using var ceiling = ChildProcess.Start("ceiling", "dotnet", $"\"{typeof(Program).Assembly.Location}\" --serve-ceiling {ceilingPort} {body.Length}");
            await ceiling.WaitForPortAsync(ceilingPort, TimeSpan.FromSeconds(30));
            await RunScenarioAsync("ceiling", ceiling, new Uri($"http://127.0.0.1:{ceilingPort}/graphql"), cachedPrompt);
        }
    }

    await WarmUpAsync(graphql);

    // Each scenario also reads the gateway's runtime counters before and after: CPU and allocations per request.
    var counters = new Dictionary<string, object>();
    async Task MeasureAsync(string name, byte[] body)
    {
        var before = await Counters.ReadAsync(http, deployment.Gateway);
        var spansBefore = spans.Spans;
        var measurement = await RunScenarioAsync(name, deployment.GatewayProcess, graphql, body);
        var after = await Counters.ReadAsync(http, deployment.Gateway);
        // Warm-up requests are in the counters too.
        counters[name] = Counters.PerRequest(before, after, measurement.Sent);
        // Spans still in the exporter's batch arrive within its schedule (5 s).
        await Task.Delay(TimeSpan.FromSeconds(6));
        spansPerRequest[name] = (spans.Spans - spansBefore) / (double)Math.Max(1, measurement.Sent);
        Console.WriteLine($"  spans exported per request {spansPerRequest[name]:0.00}\n  gateway counters: {System.Text.Json.JsonSerializer.Serialize(counters[name])}");
    }
    if (options.Runs("cache-hit"))
        await MeasureAsync("cache-hit", cachedPrompt);
    if (options.Runs("tracing-off"))
        await RunTracingOffAsync();
    if (options.Runs("miss-overhead"))
    {
        // The backend alone, called the way the gateway calls it: what the loopback server itself adds to its 50 ms.
        var direct = Load.Json(JsonSerializer.Serialize(new { model = "gemma3:1b", stream = false, messages = new[] { new { role = "user", content = "Tell me something new about opossums." } } }));
        var backendChat = new Uri(backend.Address(), "/api/chat");
        var alone = await Load.RunAsync("backend alone", http, _ => Load.Post(backendChat, direct), options.Concurrency, options.Warmup, options.Duration);
        results.Add(alone);
        Console.WriteLine(alone);
        await MeasureAsync("miss-overhead", missPrompt);
    }
    report["gatewayCounters"] = counters;

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
    report["mode"] = deployment.Mode;
}

if (options.Runs("tracing-off") && !tracingOnScenarios)
    await RunTracingOffAsync();

var table = Report.Build(results, backendLatency.TotalMilliseconds);
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
