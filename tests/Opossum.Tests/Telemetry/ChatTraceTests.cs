using System.Diagnostics;
using Opossum.Tests.Gateway;
using Opossum.Tests.Support;

namespace Opossum.Tests.Telemetry;

[Collection(GatewayCollection.Name)]
public sealed class ChatTraceTests(GatewayFixture fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task One_chat_is_one_trace_from_the_gateway_request_to_the_ollama_http_call()
    {
        var prompt = $"trace me {Guid.NewGuid()}";
        var result = await fixture.Gateway.ChatAsync(new { message = prompt });
        var traceId = result.Data!["chat"]!["traceId"]!.GetValue<string>();

        var spans = await fixture.Gateway.Spans.SpansOfTraceAsync(traceId, s => s.Kind == ActivityKind.Server && s.Source.Name == "Microsoft.AspNetCore" && s.GetTagItem("url.path") as string == "/graphql");

        var server = spans.Single(s => s.Kind == ActivityKind.Server && s.GetTagItem("url.path") as string == "/graphql");
        Assert.Equal(default, server.ParentSpanId); // the gateway's HTTP request is the root
        var ollamaHttp = spans.Single(s => s.Source.Name == "System.Net.Http" && s.Kind == ActivityKind.Client
                                           && (s.GetTagItem("url.full") as string ?? "").EndsWith("/api/chat"));

        // Walking up from the HTTP call to Ollama reaches the gateway's HTTP server span.
        var ancestors = TraceTrees.AncestorsOf(ollamaHttp, spans).ToList();
        Assert.Contains(ancestors, s => s.SpanId == server.SpanId);
        var chain = ancestors.TakeWhile(s => s.SpanId != server.SpanId).Select(s => s.DisplayName).ToList();
        Assert.Contains("ollama.generate", chain);
        Assert.Contains("model.generate", chain);
        Assert.Contains(spans, s => s.DisplayName == "cache.get" && Equals(s.GetTagItem("cache.hit"), false));
        Assert.Contains("mutation Chat", chain);
        Assert.Contains(chain, name => name.Contains("IResponseCacheGrain/GetOrGenerate"));
        // This gateway co-hosts the silo: a new conversation is started in-process, not through a starter grain.
        Assert.DoesNotContain(spans, s => s.DisplayName.Contains("IConversationStarterGrain"));
        Assert.All(spans, s => Assert.Equal(traceId, s.TraceId.ToHexString()));
        TraceTrees.Print(server, spans, output);

        // The ollama.generate span carries the contract's attributes; no prompt text anywhere.
        var generate = spans.Single(s => s.DisplayName == "ollama.generate");
        Assert.Equal("ollama", generate.GetTagItem("gen_ai.provider.name"));
        Assert.Equal("gemma3:1b", generate.GetTagItem("gen_ai.request.model"));
        Assert.Equal(prompt.Length, generate.GetTagItem("prompt.length"));
        Assert.DoesNotContain(spans.SelectMany(s => s.TagObjects), t => t.Value is string v && v.Contains(prompt));
    }
}
