using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;

namespace Opossum.Tests.Telemetry;

/// <summary>What reaches an OTLP/HTTP collector: a receiver on loopback decodes the protobuf bodies.</summary>
public sealed class OtlpExportTests : IAsyncLifetime
{
    // Names only a chat's trace has: none may turn up under a trace id the client was not given.
    private static readonly string[] ChatSpans = ["IResponseCacheGrain/GetOrGenerate", "cache.get", "model.generate", "ollama.generate"];

    private FakeOllama _ollama = null!;
    private OtlpReceiver _receiver = null!;

    public async Task InitializeAsync()
    {
        _ollama = await FakeOllama.StartAsync();
        _receiver = await OtlpReceiver.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _receiver.DisposeAsync();
        await _ollama.DisposeAsync();
    }

    private Task<GatewayHost> StartGatewayAsync(string endpoint, string enabled = "true") =>
        GatewayHost.StartAsync(_ollama.BaseUrl, new Dictionary<string, string?>
        {
            ["OTEL_ENABLED"] = enabled,
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint,
            ["OTEL_SERVICE_NAME"] = "opossum-under-test",
            ["ENV"] = "ci",
            // Export promptly so the test does not wait for the default 5 s batch.
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
        });

    [Theory]
    [InlineData("/v1/traces")]
    [InlineData("")]
    public async Task Spans_reach_the_collector_as_protobuf_with_the_resource(string path)
    {
        await using var gateway = await StartGatewayAsync(_receiver.BaseUrl.ToString().TrimEnd('/') + path);

        var result = await gateway.ChatAsync(new { message = $"to the collector {Guid.NewGuid():N}" });
        var traceId = result.Data!["chat"]!["traceId"]!.GetValue<string>();

        // Every span judged below: one post's spans are enqueued one at a time, so a snapshot can hold part of a post.
        var spans = await WaitForAsync(() => _receiver.Spans.Where(s => s.TraceId == traceId).ToList(),
            s => new[] { "POST /graphql", "ollama.generate", "model.generate", "IResponseCacheGrain/GetOrGenerate" }.All(name => s.Any(x => x.Name == name)));
        Assert.Contains(spans, s => s.Name == "model.generate" && s.Attributes["model.name"] == "gemma3:1b");
        Assert.Contains(spans, s => s.Name == "IResponseCacheGrain/GetOrGenerate");
        var resource = spans[0].Resource;
        Assert.Equal("opossum-under-test", resource["service.name"]);
        Assert.Equal("ci", resource["environment"]);
        Assert.Equal("ci", resource["deployment.environment.name"]);
        Assert.False(string.IsNullOrEmpty(resource["service.instance.id"]));
        Assert.StartsWith("0.1.0", resource["service.version"]);
        await WaitForAsync(() => _receiver.MetricsPosts, n => n > 0);
    }

    [Fact]
    public async Task With_OTEL_ENABLED_false_nothing_is_sent_and_metrics_say_so()
    {
        await using var gateway = await StartGatewayAsync(_receiver.BaseUrl + "v1/traces", enabled: "false");

        var result = await gateway.ChatAsync(new { message = "quietly" });
        // Anything the gateway would send, it sends now: a provider that should not be there would have posted before this returns.
        gateway.FlushTelemetry();
        using var metrics = await gateway.GetUntracedAsync("/metrics");
        using var traces = await gateway.GetUntracedAsync("/traces/recent");

        Assert.Empty(result.Errors);
        Assert.Matches("^[0-9a-f]{32}$", result.Data!["chat"]!["traceId"]!.GetValue<string>());
        Assert.Equal(0, _receiver.TracePosts);
        Assert.Equal(0, _receiver.MetricsPosts);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, metrics.StatusCode);
        Assert.Contains("disabled", await metrics.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, traces.StatusCode);
        Assert.Empty(gateway.Spans);
    }

    [Fact]
    public async Task Spans_made_while_the_collector_stalls_all_arrive_once_it_answers_again()
    {
        await using var gateway = await StartGatewayAsync(_receiver.BaseUrl.ToString());
        var prompt = $"while the collector stalls {Guid.NewGuid():N}";
        var first = await gateway.ChatAsync(new { message = prompt });
        await WaitForAsync(() => _receiver.Spans.Count(s => s.TraceId == first.Data!["chat"]!["traceId"]!.GetValue<string>() && s.Name == "POST /graphql"), n => n == 1);

        // 1 000 cached chats, three spans each, while one post hangs (well within the exporter's 10 s timeout): more
        // spans than the SDK's default queue of 2 048 holds, so with its defaults a third of them would be dropped.
        _receiver.Stall();
        var traceIds = new System.Collections.Concurrent.ConcurrentBag<string>();
        await Parallel.ForEachAsync(Enumerable.Range(0, 1000), new ParallelOptions { MaxDegreeOfParallelism = 8 }, async (_, _) =>
        {
            var result = await gateway.ChatAsync(new { message = prompt });
            traceIds.Add(result.Data!["chat"]!["traceId"]!.GetValue<string>());
        });
        _receiver.Resume();

        var expected = traceIds.ToHashSet();
        var arrived = await WaitForAsync(
            () => _receiver.Spans.Where(s => s.Name == "POST /graphql" && expected.Contains(s.TraceId)).Select(s => s.TraceId).Distinct().Count(),
            n => n == expected.Count);
        Assert.Equal(1000, expected.Count);
        Assert.Equal(expected.Count, arrived);
    }

    /// <summary>
    /// Head sampling as an operator turns it on, with the SDK's own variables. A gateway process of its
    /// own: activity sources are process-wide, so another test's gateway in this process would sample too.
    /// </summary>
    [Fact]
    public async Task A_sampled_trace_is_exported_whole_and_a_dropped_one_not_at_all_yet_every_answer_has_a_trace_id()
    {
        await using var gateway = OpossumProcess.Start("gateway", "Opossum.Gateway", FreePorts.Next(), new Dictionary<string, string>
        {
            ["OLLAMA_BASE_URL"] = _ollama.BaseUrl.ToString(),
            ["OPOSSUM_SILO_PORT"] = FreePorts.Next().ToString(),
            ["OPOSSUM_GATEWAY_PORT"] = FreePorts.Next().ToString(),
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _receiver.BaseUrl.ToString(),
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
            ["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio",
            ["OTEL_TRACES_SAMPLER_ARG"] = "0.5",
            ["Opossum__Availability__CheckPeriod"] = "01:00:00",
        });
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(60));
        // A client that sends no traceparent, so the gateway decides. (Other tests' tracers share this
        // process: with them listening, HttpClient would send a sampled traceparent, which the gateway follows.)
        // One connection, so the marker below is read only once every chat's request has ended.
        using var http = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = null, MaxConnectionsPerServer = 1 }) { BaseAddress = gateway.Http };

        // New prompts: each one a miss that goes through the starter, the cache grain, the model grain and Ollama.
        var traceIds = new List<string>();
        for (var i = 0; i < 24; i++)
        {
            using var response = await http.PostAsJsonAsync("/graphql", new
            {
                query = "mutation Chat($input: ChatInput!) { chat(input: $input) { traceId } }",
                variables = new { input = new { message = $"sampled or not {i} {Guid.NewGuid():N}" } },
            });
            var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
            traceIds.Add(body["data"]!["chat"]!["traceId"]!.GetValue<string>());
        }

        // A marker the gateway must sample (its parent says so), on the same connection: Kestrel ends a request's span
        // before it reads the next request, and the exporter sends spans in the order they ended, so once the marker's
        // span has reached the collector, every span of the chats has too.
        var marker = ActivityTraceId.CreateRandom().ToHexString();
        using (var request = new HttpRequestMessage(HttpMethod.Post, "/graphql") { Content = JsonContent.Create(new { query = "{ __typename }" }) })
        {
            request.Headers.Add("traceparent", $"00-{marker}-{ActivitySpanId.CreateRandom().ToHexString()}-01");
            using var response = await http.SendAsync(request);
            response.EnsureSuccessStatusCode();
        }
        Assert.True(await WaitForAsync(() => _receiver.Spans.Any(s => s.TraceId == marker && s.Name == "POST /graphql"), arrived => arrived), "the marker's span was not exported");
        var exported = _receiver.Spans.ToList();

        Assert.All(traceIds, t => Assert.Matches("^[0-9a-f]{32}$", t));
        var kept = traceIds.Where(t => exported.Any(s => s.TraceId == t)).ToList();
        Assert.InRange(kept.Count, 1, traceIds.Count - 1); // 24 draws at 0.5: all or none would be one in 8 million
        foreach (var traceId in kept)
        {
            var trace = exported.Where(s => s.TraceId == traceId).ToList();
            var names = trace.Select(s => s.Name).ToList();
            Assert.Contains("POST /graphql", names);
            Assert.All(ChatSpans, name => Assert.Contains(name, names));
            // Whole: every span's parent is in the trace, except the one root.
            var ids = trace.Select(s => s.SpanId).ToHashSet();
            Assert.Single(trace, s => !ids.Contains(s.ParentSpanId));
        }
        // Dropped: no span of the chat was started as a trace of its own on the grain side.
        Assert.All(exported.Where(s => ChatSpans.Contains(s.Name)), s => Assert.Contains(s.TraceId, kept));
    }

    private static async Task<T> WaitForAsync<T>(Func<T> read, Func<T, bool> done)
    {
        // Generous: under a full parallel test run the exporter's thread can be starved for a while.
        for (var i = 0; i < 300; i++)
        {
            var value = read();
            if (done(value)) return value;
            await Task.Delay(100);
        }
        return read();
    }
}
