using System.Diagnostics;
using Opossum.Tests.Gateway;
using Opossum.Tests.Support;

namespace Opossum.Tests.Telemetry;

/// <summary>The telemetry contract (docs/contracts.md, "Telemetry"), read from the spans the gateway exports.</summary>
[Collection(GatewayCollection.Name)]
public sealed class SpanContractTests(GatewayFixture fixture)
{
    private List<Activity> Exported() => fixture.Gateway.Spans.Snapshot();

    private async Task<List<Activity>> TraceAsync(string traceId, Func<List<Activity>, bool> complete)
    {
        for (var i = 0; i < 100; i++)
        {
            var spans = Exported().Where(s => s.TraceId.ToHexString() == traceId).ToList();
            if (complete(spans)) return spans;
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException($"trace {traceId} was not exported completely");
    }

    [Fact]
    public async Task One_chat_exports_the_whole_span_tree_with_the_contract_attributes()
    {
        var prompt = $"the whole tree {Guid.NewGuid():N}";
        var result = await fixture.Gateway.ChatAsync(new { message = prompt });
        var traceId = result.Data!["chat"]!["traceId"]!.GetValue<string>();
        var spans = await TraceAsync(traceId, s => s.Any(x => x.DisplayName == "POST /graphql") && s.Any(x => x.DisplayName == "cache.write"));
        Activity One(string name) => Assert.Single(spans, s => s.DisplayName == name);
        Activity ParentOf(Activity span) => Assert.Single(spans, s => s.SpanId == span.ParentSpanId);

        var server = One("POST /graphql");
        var operation = One("mutation Chat");
        Assert.Equal(server, ParentOf(operation));
        Assert.Equal("mutation", operation.GetTagItem("graphql.operation.type"));
        Assert.Equal("Chat", operation.GetTagItem("graphql.operation.name"));
        Assert.DoesNotContain(operation.TagObjects, t => t.Value is string v && v.Contains("chat(input"));

        var cacheGet = One("cache.get");
        Assert.Matches("^[0-9a-f]{64}$", (string)cacheGet.GetTagItem("cache.key")!);
        Assert.Equal(false, cacheGet.GetTagItem("cache.hit"));

        var model = One("model.generate");
        Assert.Equal("gemma3:1b", model.GetTagItem("model.name"));
        Assert.Equal(prompt.Length, model.GetTagItem("prompt.length"));
        Assert.Equal(("echo: " + prompt).Length, model.GetTagItem("response.length"));
        Assert.IsType<double>(model.GetTagItem("duration_seconds"));

        var ollama = One("ollama.generate");
        Assert.Equal(model, ParentOf(ollama));
        Assert.Equal(ActivityKind.Client, ollama.Kind);
        Assert.Equal("chat", ollama.GetTagItem("gen_ai.operation.name"));
        Assert.Equal("ollama", ollama.GetTagItem("gen_ai.provider.name"));
        Assert.Equal("gemma3:1b", ollama.GetTagItem("gen_ai.request.model"));
        Assert.Equal(prompt.Length, ollama.GetTagItem("gen_ai.usage.input_tokens"));
        Assert.Equal(("echo: " + prompt).Length, ollama.GetTagItem("gen_ai.usage.output_tokens"));
        Assert.Equal("POST", ollama.GetTagItem("http.method"));
        Assert.Equal(200, ollama.GetTagItem("http.status_code"));
        Assert.EndsWith("/api/chat", (string)ollama.GetTagItem("http.url")!);
        Assert.Equal(false, ollama.GetTagItem("has_image"));
        Assert.IsType<double>(ollama.GetTagItem("http.response_time"));
        var http = Assert.Single(spans, s => s.Source.Name == "System.Net.Http" && s.ParentSpanId == ollama.SpanId);
        Assert.Equal(ActivityKind.Client, http.Kind);

        // Writing the cache entry happens behind the response, yet stays in the request's trace.
        var write = One("cache.write");
        Assert.Contains(spans, s => s.SpanId == write.ParentSpanId);
        Assert.True(write.StartTimeUtc >= cacheGet.StartTimeUtc);
    }

    [Fact]
    public async Task A_repeated_prompt_is_answered_from_the_silos_copy_without_a_grain_call()
    {
        var prompt = $"asked twice {Guid.NewGuid():N}";
        await fixture.Gateway.ChatAsync(new { message = prompt });
        var backendCalls = fixture.Ollama.Calls.Count(c => c.LastUserMessage == prompt);
        var repeat = await fixture.Gateway.ChatAsync(new { message = prompt });
        Assert.True(repeat.Data!["chat"]!["cached"]!.GetValue<bool>());
        var traceId = repeat.Data!["chat"]!["traceId"]!.GetValue<string>();
        var spans = await TraceAsync(traceId, s => s.Any(x => x.DisplayName == "POST /graphql") && s.Any(x => x.DisplayName == "cache.get"));

        var cacheGet = Assert.Single(spans, s => s.DisplayName == "cache.get");
        Assert.Equal(true, cacheGet.GetTagItem("cache.hit"));
        Assert.Equal("silo", cacheGet.GetTagItem("cache.layer"));
        Assert.Matches("^[0-9a-f]{64}$", (string)cacheGet.GetTagItem("cache.key")!);
        // The GraphQL operation is the parent: the co-hosted gateway starts the conversation in-process,
        // and answers without a hop to the key's cache grain, the model or the backend — no grain call at all.
        var parent = Assert.Single(spans, s => s.SpanId == cacheGet.ParentSpanId);
        Assert.Equal("mutation Chat", parent.DisplayName);
        Assert.DoesNotContain(spans, s => s.Source.Name == "Microsoft.Orleans.Application" || s.DisplayName == "model.generate");
        Assert.Equal(backendCalls, fixture.Ollama.Calls.Count(c => c.LastUserMessage == prompt));
    }

    [Fact]
    public async Task A_generation_leases_a_slot_from_the_service_and_says_how_long_it_waited()
    {
        var result = await fixture.Gateway.ChatAsync(new { message = $"take a slot {Guid.NewGuid():N}", noCache = true });
        var traceId = result.Data!["chat"]!["traceId"]!.GetValue<string>();
        var spans = await TraceAsync(traceId, s => s.Any(x => x.DisplayName == "POST /graphql") && s.Any(x => x.DisplayName == "ollama.generate")
                                                   && s.Any(x => x.DisplayName == "IServiceGrain/Release"));

        var model = Assert.Single(spans, s => s.DisplayName == "model.generate");
        var waited = Assert.IsType<double>(model.GetTagItem("slot.wait_seconds"));
        Assert.InRange(waited, 0, 1);
        // The slot is asked for under model.generate, and given back (one-way) in the same trace.
        var acquire = Assert.Single(spans, s => s.DisplayName == "IServiceGrain/Acquire" && s.Kind == ActivityKind.Client);
        Assert.Equal(model.SpanId, acquire.ParentSpanId);
        Assert.Contains(spans, s => s.DisplayName == "IServiceGrain/Release" && s.Kind == ActivityKind.Client);
    }

    [Fact]
    public async Task A_failed_generation_is_recorded_as_an_error_with_the_exception()
    {
        var prompt = $"fail the span {Guid.NewGuid():N}";
        fixture.Ollama.Failures[prompt] = (System.Net.HttpStatusCode.InternalServerError, "kaput");

        var result = await fixture.Gateway.ChatAsync(new { message = prompt, noCache = true });
        var traceId = result.Errors[0]!["extensions"]!["traceId"]!.GetValue<string>();
        var spans = await TraceAsync(traceId, s => s.Any(x => x.DisplayName == "POST /graphql") && s.Any(x => x.DisplayName == "model.generate"));

        foreach (var name in new[] { "ollama.generate", "model.generate" })
        {
            var span = Assert.Single(spans, s => s.DisplayName == name);
            Assert.Equal(ActivityStatusCode.Error, span.Status);
            Assert.Contains("HTTP 500", span.StatusDescription);
            Assert.Contains(span.Events, e => e.Name == "exception" && e.Tags.Any(t => t.Key == "exception.message" && ((string)t.Value!).Contains("kaput")));
        }
    }

    [Fact]
    public async Task A_service_check_span_carries_the_service_and_its_events()
    {
        await fixture.Gateway.PostAsync("mutation { forceServiceCheck(service: \"ollama\") { state } }");

        var check = await Eventually(() => Exported().LastOrDefault(s => s.DisplayName == "service.check" && Equals(s.GetTagItem("gen_ai.provider.name"), "ollama")));
        Assert.Equal(true, check.GetTagItem("service.available"));
        Assert.Equal(["check_started", "check_completed"], check.Events.Select(e => e.Name));
        Assert.Equal("available", check.Events.Last().Tags.Single(t => t.Key == "result").Value);
    }

    private static async Task<Activity> Eventually(Func<Activity?> find)
    {
        for (var i = 0; i < 100; i++)
        {
            if (find() is { } found) return found;
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException("span not exported");
    }
}
