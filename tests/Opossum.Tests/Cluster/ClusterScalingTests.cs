using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;
using Xunit.Abstractions;

namespace Opossum.Tests.Cluster;

/// <summary>
/// Real processes on loopback: redis-server, Opossum.Silo x3 and Opossum.Gateway in cluster mode with the
/// product's default failure detection, serving a steady stream of chats while silos are added, killed
/// (SIGKILL) and stopped (SIGTERM).
/// </summary>
[Collection(IsolatedClusterCollection.Name)]
public sealed class ClusterScalingTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Workers = 8;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan SlowGeneration = TimeSpan.FromSeconds(25);

    private readonly List<OpossumProcess> _processes = [];
    private readonly string _clusterId = "scale-" + Guid.NewGuid().ToString("N")[..8];
    private RedisServer _redis = null!;
    private FakeOllama _ollama = null!;
    private OtlpReceiver _collector = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync();
        _ollama = await FakeOllama.StartAsync();
        _collector = await OtlpReceiver.StartAsync();
    }

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
            await process.DisposeAsync();
        await _collector.DisposeAsync();
        await _ollama.DisposeAsync();
        await _redis.DisposeAsync();
    }

    private Dictionary<string, string> Environment(string serviceName) => new()
    {
        ["OPOSSUM_CLUSTERING"] = "redis",
        ["REDIS_CONNECTION"] = _redis.ConnectionString,
        ["OPOSSUM_CLUSTER_ID"] = _clusterId,
        ["OPOSSUM_ADVERTISED_IP"] = "127.0.0.1",
        ["OLLAMA_BASE_URL"] = _ollama.BaseUrl.ToString(),
        ["OTEL_SERVICE_NAME"] = serviceName,
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.BaseUrl.ToString(),
        ["OTEL_BSP_SCHEDULE_DELAY"] = "500",
        ["Opossum__Conversations__ContextExchanges"] = "1000",
        ["Opossum__Availability__CheckPeriod"] = "01:00:00",
        // The one check, on a machine shared with other builds, may take seconds: its verdict must not depend on that.
        ["Backends__Ollama__CheckTimeout"] = "00:00:30",
        ["Opossum__Availability__DegradedLatency"] = "00:00:30",
        ["Logging__LogLevel__Opossum.Gateway.Chat.ClusterCalls"] = "Information",
    };

    private OpossumProcess StartSilo(int n)
    {
        var env = Environment($"opossum-silo-{n}");
        env["OPOSSUM_SILO_PORT"] = FreePorts.Next().ToString();
        env["OPOSSUM_GATEWAY_PORT"] = FreePorts.Next().ToString();
        var silo = OpossumProcess.Start($"silo-{n}", "Opossum.Silo", FreePorts.Next(), env);
        _processes.Add(silo);
        return silo;
    }

    [Fact]
    public async Task Silos_join_die_and_leave_while_the_gateway_serves_and_nothing_is_lost()
    {
        var total = Stopwatch.StartNew();
        var silo1 = StartSilo(1);
        var silo2 = StartSilo(2);
        await Task.WhenAll(silo1.WaitReadyAsync(TimeSpan.FromSeconds(60), "/health"), silo2.WaitReadyAsync(TimeSpan.FromSeconds(60), "/health"));
        var gatewayEnvironment = Environment("opossum-gateway");
        gatewayEnvironment["OPOSSUM_SILO_PORT"] = FreePorts.Next().ToString(); // the gateway is a member (without grains)
        var gateway = OpossumProcess.Start("gateway", "Opossum.Gateway", FreePorts.Next(), gatewayEnvironment);
        _processes.Add(gateway);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = gateway.Http, Timeout = RequestTimeout };

        // The service monitor's state before any silo goes, once its first check (started with the silos) is in: it must be read back unchanged at the end.
        var before = await WaitForFirstCheckAsync(http);
        Assert.Equal("ONLINE", before["state"]!.GetValue<string>());

        var stream = new ChatStream(http, Workers);
        var streaming = stream.RunAsync();
        await stream.WaitForSuccessesAsync(Workers * 5);

        var silo3 = StartSilo(3);
        await silo3.WaitReadyAsync(TimeSpan.FromSeconds(60), "/health");
        await stream.WaitForSuccessesAsync(stream.Successes + Workers * 5);

        var killedAt = stream.Elapsed;
        silo1.Kill();
        var failuresBeforeKill = stream.Failures.Count;
        await stream.WaitForEveryWorkerAfterAsync(killedAt, TimeSpan.FromSeconds(60));
        var recovery = stream.RecoveredAfter(killedAt);
        await stream.WaitForSuccessesAsync(stream.Successes + Workers * 5);
        var failedDuringKill = stream.Failures.Count - failuresBeforeKill;
        var slowestAroundKill = stream.Slowest;

        var failuresBeforeTerm = stream.Failures.Count;
        var terminatedAt = stream.Elapsed;
        silo2.Terminate();
        Assert.True(await silo2.WaitForExitAsync(TimeSpan.FromSeconds(30)), "silo-2 did not stop within 30 s of SIGTERM:\n" + string.Join("\n", silo2.Output.Where(l => !l.StartsWith("      ") && !l.StartsWith("   at") && !l.StartsWith("         ")).TakeLast(40)));
        var drained = stream.Elapsed - terminatedAt;
        await stream.WaitForSuccessesAsync(stream.Successes + Workers * 5, TimeSpan.FromSeconds(60));
        await stream.StopAsync();
        await streaming;
        var failedDuringTerm = stream.Failures.Count - failuresBeforeTerm;
        // Every slot a chat took is given back once the chats are answered: a slot that stays taken makes later chats queue for it.
        await WaitForFreeSlotsAsync(http);

        // Failover comes from failure detection, not a short timeout: a healthy generation of 25 s completes.
        var slowPrompt = $"slow generation {Guid.NewGuid():N}";
        _ollama.Delays[slowPrompt] = SlowGeneration;
        using var patient = new HttpClient { BaseAddress = gateway.Http, Timeout = TimeSpan.FromSeconds(90) };
        var slowStarted = Stopwatch.GetTimestamp();
        var slow = await GraphQL(patient, "mutation($m: String!) { chat(input: {message: $m, noCache: true}) { message } }", new { m = slowPrompt });
        var slowTook = Stopwatch.GetElapsedTime(slowStarted);

        output.WriteLine($"chats: {stream.Successes} answered, {stream.Failures.Count} failed, in {stream.Elapsed.TotalSeconds:0.0} s, {Workers} clients (half with noCache)");
        output.WriteLine($"SIGKILL silo-1 at {killedAt.TotalSeconds:0.0} s: {failedDuringKill} requests failed; every conversation answered again {recovery.TotalSeconds:0.00} s after the kill; slowest request {slowestAroundKill.TotalMilliseconds:0} ms");
        output.WriteLine($"SIGTERM silo-2: exit code {silo2.ExitCode} after {drained.TotalSeconds:0.0} s; {failedDuringTerm} requests failed while it drained");
        output.WriteLine($"slowest request: {stream.Slowest.TotalMilliseconds:0} ms; a {SlowGeneration.TotalSeconds:0} s generation took {slowTook.TotalSeconds:0.0} s; whole test {total.Elapsed.TotalSeconds:0.0} s");
        foreach (var line in gateway.Output.Where(l => l.Contains("Cluster call failed")).Take(5))
            output.WriteLine("  gateway: " + line);
        foreach (var failure in stream.Failures.Take(10))
            output.WriteLine("  failure: " + failure);

        Assert.All(stream.Failures, f => Assert.StartsWith("graphql ", f)); // a clear GraphQL error, never a transport failure
        Assert.True(slowestAroundKill < TimeSpan.FromSeconds(10), $"a request waited {slowestAroundKill} around the kill");
        Assert.True(recovery < TimeSpan.FromSeconds(5), $"every conversation was answered again only {recovery} after the kill");
        Assert.Equal(0, failedDuringTerm);
        Assert.Equal(0, silo2.ExitCode);
        Assert.Equal("echo: " + slowPrompt, slow!["data"]!["chat"]!["message"]!.GetValue<string>());
        Assert.True(slowTook >= SlowGeneration, $"the slow generation took {slowTook}");
        Assert.Equal(1, _ollama.CallsContaining(slowPrompt));

        // Every conversation holds every answered exchange, in order, once; nothing of a request that failed.
        foreach (var worker in stream.Conversations)
        {
            var turns = (await GraphQL(http, "query($id: ID!) { conversation(id: $id) { turns { role content } } }", new { id = worker.Id }))!
                ["data"]!["conversation"]!["turns"]!.AsArray().Select(t => (Role: t!["role"]!.GetValue<string>(), Content: t["content"]!.GetValue<string>())).ToList();
            var users = turns.Where(t => t.Role == "user").Select(t => t.Content).ToList();
            Assert.Equal(worker.Answered.ToList(), users);
            Assert.All(worker.Answered, message => Assert.Single(turns, t => t == ("assistant", "echo: " + message)));
            Assert.DoesNotContain(worker.Failed, users.Contains);
        }

        // The service's state is the one persisted before the silos went (it was re-read, not re-made).
        var after = (await GraphQL(http, "{ services { name state lastChecked latencyMs consecutiveFailures } }"))!["data"]!["services"]!
            .AsArray().Single(s => s!["name"]!.GetValue<string>() == "ollama")!;
        Assert.Equal(before.ToJsonString(), after.ToJsonString());

        // Each silo serves its own /metrics and the Orleans Dashboard for operators.
        using var siloHttp = new HttpClient { BaseAddress = silo3.Http };
        var siloMetrics = await siloHttp.GetStringAsync("/metrics");
        Assert.Contains("gen_ai_client_operation_duration_seconds_bucket", siloMetrics);
        Assert.Contains("orleans_", siloMetrics);
        Assert.Contains("<title>Orleans Dashboard</title>", await siloHttp.GetStringAsync("/dashboard/"));

        // Cluster-mode traces: one chat's summary in Redis covers the gateway's and the silos' spans.
        var chat = await GraphQL(http, "mutation { chat(input: {message: \"trace across processes\"}) { traceId } }");
        var traceId = chat!["data"]!["chat"]!["traceId"]!.GetValue<string>();
        var summary = await WaitForTraceAsync(http, traceId);
        var services = summary["services"]!.AsArray().Select(s => s!.GetValue<string>()).ToList();
        Assert.Contains("opossum-gateway", services);
        Assert.Contains(services, s => s.StartsWith("opossum-silo-"));
        bool Exported(string service) => _collector.Spans.Any(s => s.TraceId == traceId && s.Resource["service.name"].StartsWith(service));
        for (var i = 0; i < 50 && !(Exported("opossum-silo-") && Exported("opossum-gateway")); i++)
            await Task.Delay(200);
        Assert.Contains(_collector.Spans, s => s.TraceId == traceId && s.Resource["service.name"].StartsWith("opossum-silo-"));
        Assert.Contains(_collector.Spans, s => s.TraceId == traceId && s.Resource["service.name"] == "opossum-gateway");
        // A pure-client gateway starts a new conversation through a starter grain on a silo: the call is in the trace on both sides.
        Assert.Contains(_collector.Spans, s => s.TraceId == traceId && s.Name == "IConversationStarterGrain/Start" && s.Resource["service.name"] == "opossum-gateway");
        Assert.Contains(_collector.Spans, s => s.TraceId == traceId && s.Name == "IConversationStarterGrain/Start" && s.Resource["service.name"].StartsWith("opossum-silo-"));
        output.WriteLine($"trace {traceId}: {summary.ToJsonString()}");
    }

    private static async Task<JsonNode> WaitForFirstCheckAsync(HttpClient http)
    {
        for (var i = 0; i < 150; i++)
        {
            var ollama = (await GraphQL(http, "{ services { name state lastChecked latencyMs consecutiveFailures } }"))!["data"]!["services"]!
                .AsArray().Single(s => s!["name"]!.GetValue<string>() == "ollama")!;
            if (ollama["lastChecked"] is not null) return ollama;
            await Task.Delay(200);
        }
        throw new Xunit.Sdk.XunitException("the ollama service was not checked within 30 s of the gateway being ready");
    }

    private static async Task<int> InFlightAsync(HttpClient http) =>
        (await GraphQL(http, "{ services { name servers { inFlight } } }"))!["data"]!["services"]!.AsArray()
            .Single(s => s!["name"]!.GetValue<string>() == "ollama")!["servers"]!.AsArray().Sum(s => s!["inFlight"]!.GetValue<int>());

    /// <summary>Waits for the slots of finished chats to come back: released at once, or reclaimed within a second when their silo is declared dead.</summary>
    private static async Task WaitForFreeSlotsAsync(HttpClient http)
    {
        var inFlight = 0;
        for (var i = 0; i < 50; i++)
        {
            if ((inFlight = await InFlightAsync(http)) == 0) return;
            await Task.Delay(200);
        }
        throw new Xunit.Sdk.XunitException($"{inFlight} backend slots stayed taken after every chat was answered");
    }

    private static async Task<JsonNode> WaitForTraceAsync(HttpClient http, string traceId)
    {
        for (var i = 0; i < 50; i++)
        {
            var recent = await http.GetFromJsonAsync<JsonArray>("/traces/recent?limit=100");
            var found = recent!.FirstOrDefault(t => t!["traceId"]!.GetValue<string>() == traceId);
            if (found is not null && found["services"]!.AsArray().Count >= 3) return found;
            await Task.Delay(200);
        }
        throw new Xunit.Sdk.XunitException($"trace {traceId} not summarised in Redis");
    }

    private static async Task<JsonNode?> GraphQL(HttpClient http, string query, object? variables = null)
    {
        using var response = await http.PostAsJsonAsync("/graphql", new { query, variables });
        return JsonNode.Parse(await response.Content.ReadAsStringAsync());
    }

    /// <summary>Workers that each keep one conversation going, one chat after another.</summary>
    private sealed class ChatStream(HttpClient http, int workers)
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly Stopwatch _clock = Stopwatch.StartNew();
        private int _successes;
        private long _slowestTicks;

        public List<Worker> Conversations { get; } = [];
        public ConcurrentQueue<string> Failures { get; } = new();
        public int Successes => Volatile.Read(ref _successes);
        public TimeSpan Elapsed => _clock.Elapsed;
        public TimeSpan Slowest => TimeSpan.FromTicks(Interlocked.Read(ref _slowestTicks));

        public async Task RunAsync()
        {
            for (var i = 0; i < workers; i++)
            {
                var first = await GraphQL(http, "mutation($m: String!) { chat(input: {message: $m}) { conversationId } }", new { m = $"worker {i} says hello" });
                var worker = new Worker(first!["data"]!["chat"]!["conversationId"]!.GetValue<string>());
                worker.Answered.Enqueue($"worker {i} says hello");
                Conversations.Add(worker);
            }
            await Task.WhenAll(Conversations.Select((w, i) => LoopAsync(w, i)));
        }

        private async Task LoopAsync(Worker worker, int index)
        {
            for (var n = 1; !_stop.IsCancellationRequested; n++)
            {
                var message = $"worker {index} message {n}";
                var started = Stopwatch.GetTimestamp();
                try
                {
                    var result = await GraphQL(http, "mutation($m: String!, $id: ID!, $noCache: Boolean) { chat(input: {message: $m, conversationId: $id, noCache: $noCache}) { message } }",
                        new { m = message, id = worker.Id, noCache = index % 2 == 0 });
                    if (result?["errors"] is JsonArray { Count: > 0 } errors)
                    {
                        Failures.Enqueue($"graphql {errors[0]!["extensions"]?["code"]}: {errors[0]!["message"]}");
                        worker.Failed.Enqueue(message);
                    }
                    else
                    {
                        worker.Answered.Enqueue(message);
                        worker.LastSuccess = _clock.Elapsed;
                        Interlocked.Increment(ref _successes);
                    }
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
                {
                    Failures.Enqueue($"transport {ex.GetType().Name}: {ex.Message}");
                    worker.Failed.Enqueue(message);
                }
                var took = Stopwatch.GetElapsedTime(started).Ticks;
                long seen;
                while (took > (seen = Interlocked.Read(ref _slowestTicks)) && Interlocked.CompareExchange(ref _slowestTicks, took, seen) != seen) { }
                await Task.Delay(50);
            }
        }

        public async Task WaitForSuccessesAsync(int count, TimeSpan? timeout = null)
        {
            var deadline = _clock.Elapsed + (timeout ?? TimeSpan.FromSeconds(30));
            while (Successes < count)
            {
                if (_clock.Elapsed > deadline)
                    throw new TimeoutException($"only {Successes} of {count} chats answered; failures: {string.Join(" | ", Failures.TakeLast(5))}");
                await Task.Delay(50);
            }
        }

        public async Task WaitForEveryWorkerAfterAsync(TimeSpan since, TimeSpan timeout)
        {
            var deadline = _clock.Elapsed + timeout;
            while (Conversations.Any(w => w.FirstSuccessAfter(since) == TimeSpan.MaxValue))
            {
                if (_clock.Elapsed > deadline)
                    throw new TimeoutException($"not every worker was answered again within {timeout}; failures: {string.Join(" | ", Failures.TakeLast(5))}");
                await Task.Delay(50);
            }
        }

        /// <summary>How long after <paramref name="since"/> every worker had an answer again.</summary>
        public TimeSpan RecoveredAfter(TimeSpan since) => Conversations.Max(w => w.FirstSuccessAfter(since)) - since;

        public Task StopAsync()
        {
            _stop.Cancel();
            return Task.CompletedTask;
        }
    }

    private sealed class Worker(string id)
    {
        private readonly ConcurrentQueue<TimeSpan> _successTimes = new();
        public string Id { get; } = id;
        public ConcurrentQueue<string> Answered { get; } = new();
        public ConcurrentQueue<string> Failed { get; } = new();
        public TimeSpan LastSuccess { set => _successTimes.Enqueue(value); }
        public TimeSpan FirstSuccessAfter(TimeSpan since) => _successTimes.Where(t => t > since).DefaultIfEmpty(TimeSpan.MaxValue).Min();
    }
}
