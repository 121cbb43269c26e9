using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;

namespace Opossum.Tests.Telemetry;

/// <summary>
/// Head sampling as an operator turns it on, with the OpenTelemetry SDK's own variables on a real
/// gateway process: a trace is kept or dropped whole, across every grain call and the backend call.
/// </summary>
public sealed class SamplingTests : IAsyncLifetime
{
    // Names only a chat's trace has: none may turn up under a trace id the client was not given.
    private static readonly string[] ChatSpans = ["IConversationStarterGrain/Start", "cache.get", "model.generate", "ollama.generate"];

    private FakeOllama _ollama = null!;
    private OtlpReceiver _collector = null!;

    public async Task InitializeAsync()
    {
        _ollama = await FakeOllama.StartAsync();
        _collector = await OtlpReceiver.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _collector.DisposeAsync();
        await _ollama.DisposeAsync();
    }

    [Fact]
    public async Task A_sampled_trace_is_exported_whole_and_a_dropped_one_not_at_all_yet_every_answer_has_a_trace_id()
    {
        await using var gateway = OpossumProcess.Start("gateway", "Opossum.Gateway", FreePorts.Next(), new Dictionary<string, string>
        {
            ["OLLAMA_BASE_URL"] = _ollama.BaseUrl.ToString(),
            ["OPOSSUM_SILO_PORT"] = FreePorts.Next().ToString(),
            ["OPOSSUM_GATEWAY_PORT"] = FreePorts.Next().ToString(),
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = _collector.BaseUrl.ToString(),
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
            ["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio",
            ["OTEL_TRACES_SAMPLER_ARG"] = "0.5",
            ["Opossum__Availability__CheckPeriod"] = "01:00:00",
        });
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(60));
        using var http = new HttpClient { BaseAddress = gateway.Http };

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

        // Every trace the collector has must have its HTTP server span (it ends last), and nothing new may have
        // arrived for three export rounds, before anything is judged.
        var seen = -1;
        var quiet = 0;
        for (var deadline = DateTime.UtcNow.AddSeconds(30); quiet < 3 && DateTime.UtcNow < deadline; await Task.Delay(200))
        {
            var spans = _collector.Spans.Where(s => traceIds.Contains(s.TraceId)).ToList();
            var complete = spans.Count > 0 && spans.Select(s => s.TraceId).Distinct().All(t => spans.Any(s => s.TraceId == t && s.Name == "POST /graphql"));
            quiet = complete && spans.Count == seen ? quiet + 1 : 0;
            seen = spans.Count;
        }
        var exported = _collector.Spans.ToList();

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
}
