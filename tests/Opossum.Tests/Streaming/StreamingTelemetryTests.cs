using System.Diagnostics;
using Opossum.Tests.Support;

namespace Opossum.Tests.Streaming;

/// <summary>A streamed answer is one trace from the gateway's request to the backend's HTTP call, with the stream's timings.</summary>
public sealed class StreamingTelemetryTests(StreamingFixture fixture, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<StreamingFixture>
{
    private const string Stream = "subscription Stream($input: ChatInput!) { chatStream(input: $input) { delta done traceId } }";

    [Fact]
    public async Task An_sse_stream_is_one_trace_down_to_the_backend_call_with_its_time_to_first_chunk()
    {
        // A first stream compiles what streaming needs: the trace below is of a warm gateway.
        await ReferenceClients.RunAsync(fixture.GraphQL, new ClientOp("sse", Stream, new { input = new { message = $"warm up {Guid.NewGuid():N}", model = "gemma3:1b" } }));
        var prompt = $"trace this stream {Guid.NewGuid():N}";
        var events = await ReferenceClients.RunAsync(fixture.GraphQL, new ClientOp("sse", Stream, new { input = new { message = prompt, model = "gemma3:1b" } }));
        var traceId = events.Chunks(0)[^1]["traceId"]!.GetValue<string>();

        static bool IsGatewayRequest(Activity s) => s.Kind == ActivityKind.Server && s.Source.Name == "Microsoft.AspNetCore" && s.GetTagItem("url.path") as string == "/graphql";
        var spans = await fixture.Gateway.Spans.SpansOfTraceAsync(traceId, IsGatewayRequest);
        var server = spans.Single(IsGatewayRequest);
        TraceTrees.Print(server, spans, output);
        foreach (var span in spans.Where(s => s.GetTagItem("gen_ai.response.time_to_first_chunk") is double))
            output.WriteLine($"{span.DisplayName}: first chunk at +{(span.StartTimeUtc - server.StartTimeUtc).TotalMilliseconds + 1000 * (double)span.GetTagItem("gen_ai.response.time_to_first_chunk")!:0.0} ms");
        Assert.Equal(default, server.ParentSpanId);
        var backendHttp = spans.Single(s => s.Source.Name == "System.Net.Http" && (s.GetTagItem("url.full") as string ?? "").EndsWith("/api/chat"));
        var chain = TraceTrees.AncestorsOf(backendHttp, spans).Select(s => s.DisplayName).ToList();
        Assert.Contains("ollama.generate", chain);
        Assert.Contains("model.generate", chain);
        Assert.Contains("subscription Stream", chain);
        Assert.Contains(chain, name => name.Contains("IResponseCacheGrain/Stream"));
        Assert.Equal(server.DisplayName, chain[^1]);
        // Each grain hop is one span for the whole stream, not one per piece: a long answer is not hundreds of spans.
        Assert.DoesNotContain(spans, s => s.DisplayName.StartsWith("IAsyncEnumerableGrainExtension/MoveNext", StringComparison.Ordinal));
        Assert.True(spans.Count < 30, $"{spans.Count} spans");

        foreach (var name in new[] { "model.generate", "ollama.generate" })
        {
            var span = spans.Single(s => s.DisplayName == name);
            Assert.Equal(true, span.GetTagItem("gen_ai.request.stream"));
            var first = Assert.IsType<double>(span.GetTagItem("gen_ai.response.time_to_first_chunk"));
            Assert.InRange(first, 0, span.Duration.TotalSeconds);
            Assert.True((int)span.GetTagItem("response.chunks")! >= 5, $"{name}: {span.GetTagItem("response.chunks")} chunks");
        }
        // The stream's span lasts as long as the stream: at least the backend's own time between its first and last chunk.
        var subscription = spans.Single(s => s.DisplayName == "subscription Stream");
        Assert.True(subscription.Duration >= 3 * StreamingFixture.ChunkDelay, $"{subscription.Duration}");
        Assert.DoesNotContain(spans.SelectMany(s => s.TagObjects), t => t.Value is string v && v.Contains(prompt));

        using var metrics = await fixture.Gateway.GetUntracedAsync("/metrics");
        var text = await metrics.Content.ReadAsStringAsync();
        Assert.Contains("gen_ai_client_operation_time_to_first_chunk_seconds_bucket{", text);
    }

    [Fact]
    public async Task Each_websocket_operation_is_a_trace_of_its_own()
    {
        var input = new { message = $"two on one socket {Guid.NewGuid():N}", model = "gemma3:1b" };
        var events = await ReferenceClients.RunAsync(fixture.GraphQL,
            new ClientOp("ws", Stream, new { input }), new ClientOp("ws", Stream, new { input = new { input.message, input.model, noCache = true } }));

        var traces = new[] { 0, 1 }.Select(op => events.Chunks(op)[^1]["traceId"]!.GetValue<string>()).ToList();
        Assert.NotEqual(traces[0], traces[1]);
        foreach (var traceId in traces)
        {
            var spans = await fixture.Gateway.Spans.SpansOfTraceAsync(traceId, s => s.DisplayName == "subscription Stream");
            var root = spans.Single(s => s.ParentSpanId == default);
            Assert.Equal("subscription Stream", root.DisplayName);
            Assert.Equal(ActivityKind.Server, root.Kind);
            Assert.Single(root.Links); // to the socket's HTTP request
        }
    }
}
