using System.Net;
using Opossum.Tests.Support;

namespace Opossum.Tests.Gateway;

[Collection(GatewayCollection.Name)]
public sealed class ChatOverHttpTests(GatewayFixture fixture)
{
    private GatewayHost Gateway => fixture.Gateway;

    [Fact]
    public async Task A_chat_round_trip_answers_with_the_model_and_a_trace_id()
    {
        var prompt = $"Hello opossum {Guid.NewGuid()}";

        var result = await Gateway.ChatAsync(new { message = prompt });

        Assert.Equal(200, result.Status);
        Assert.Equal("application/graphql-response+json", result.ContentType);
        Assert.Empty(result.Errors);
        var chat = result.Data!["chat"]!;
        Assert.Equal("echo: " + prompt, chat["message"]!.GetValue<string>());
        Assert.Equal("ollama", chat["backendUsed"]!.GetValue<string>());
        Assert.Equal("gemma3:1b", chat["modelUsed"]!.GetValue<string>());
        Assert.False(chat["cached"]!.GetValue<bool>());
        Assert.Equal(prompt.Length + ("echo: " + prompt).Length, chat["tokensUsed"]!.GetValue<int>());
        Assert.True(chat["durationMs"]!.GetValue<double>() > 0);
        Assert.Matches("^[0-9a-f]{32}$", chat["traceId"]!.GetValue<string>());
        Assert.Matches("^[0-9a-f]{32}$", chat["conversationId"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_conversation_continues_across_calls_and_can_be_read_and_ended()
    {
        var first = await Gateway.ChatAsync(new { message = "My favourite marsupial is the opossum." });
        var id = first.Data!["chat"]!["conversationId"]!.GetValue<string>();

        var second = await Gateway.ChatAsync(new { message = $"Which marsupial do I like? {id}", conversationId = id });

        Assert.Equal(id, second.Data!["chat"]!["conversationId"]!.GetValue<string>());
        var call = fixture.Ollama.Calls.Single(c => c.LastUserMessage == $"Which marsupial do I like? {id}");
        Assert.Equal(3, call.Messages.Count);
        Assert.Equal("My favourite marsupial is the opossum.", call.Messages[0].Content);

        var read = await Gateway.PostAsync("query($id: ID!) { conversation(id: $id) { id turns { role content model at } } }", new { id });
        var turns = read.Data!["conversation"]!["turns"]!.AsArray();
        Assert.Equal(["user", "assistant", "user", "assistant"], turns.Select(t => t!["role"]!.GetValue<string>()));
        Assert.Equal("gemma3:1b", turns[1]!["model"]!.GetValue<string>());

        var ended = await Gateway.PostAsync("mutation($id: ID!) { endConversation(id: $id) }", new { id });
        Assert.True(ended.Data!["endConversation"]!.GetValue<bool>());
        var gone = await Gateway.PostAsync("query($id: ID!) { conversation(id: $id) { id } }", new { id });
        Assert.Null(gone.Data!["conversation"]);
    }

    [Fact]
    public async Task The_same_prompt_twice_is_a_cache_hit_and_shows_in_cache_stats()
    {
        var before = await Gateway.PostAsync("{ cacheStats { hits misses hitRatio } }");
        var prompt = $"cache me {Guid.NewGuid()}";

        var first = await Gateway.ChatAsync(new { message = prompt });
        var second = await Gateway.ChatAsync(new { message = prompt });

        Assert.False(first.Data!["chat"]!["cached"]!.GetValue<bool>());
        Assert.True(second.Data!["chat"]!["cached"]!.GetValue<bool>());
        var hitsBefore = before.Data!["cacheStats"]!["hits"]!.GetValue<int>();
        var after = await Eventually(async () => await Gateway.PostAsync("{ cacheStats { hits misses hitRatio } }"),
            r => r.Data!["cacheStats"]!["hits"]!.GetValue<int>() > hitsBefore);
        Assert.InRange(after.Data!["cacheStats"]!["hitRatio"]!.GetValue<double>(), 0.01, 1.0);
    }

    [Fact]
    public async Task Services_models_and_status_report_the_backend()
    {
        var result = await Gateway.PostAsync(
            "{ services { name available state lastChecked lastError consecutiveFailures latencyMs } " +
            "models { name backend apiName available supportsImages } " +
            "serviceStatus { ollamaAvailable geminiAvailable allServicesAvailable lastChecked } }");

        Assert.Empty(result.Errors);
        var ollama = result.Data!["services"]!.AsArray().Single(s => s!["name"]!.GetValue<string>() == "ollama")!;
        Assert.Equal("ONLINE", ollama["state"]!.GetValue<string>());
        Assert.True(ollama["available"]!.GetValue<bool>());
        var model = result.Data!["models"]!.AsArray().Single()!;
        Assert.Equal("ollama", model["backend"]!.GetValue<string>());
        Assert.True(model["available"]!.GetValue<bool>());
        Assert.True(result.Data!["serviceStatus"]!["ollamaAvailable"]!.GetValue<bool>());
        Assert.False(result.Data!["serviceStatus"]!["geminiAvailable"]!.GetValue<bool>());
    }

    [Fact]
    public async Task ForceServiceCheck_checks_now()
    {
        var calls = fixture.Ollama.TagsCalls;

        var result = await Gateway.PostAsync("mutation { forceServiceCheck(service: \"ollama\") { name state lastChecked } }");

        Assert.Empty(result.Errors);
        Assert.Equal("ONLINE", result.Data!["forceServiceCheck"]![0]!["state"]!.GetValue<string>());
        Assert.True(fixture.Ollama.TagsCalls > calls);

        var unknown = await Gateway.PostAsync("mutation { forceServiceCheck(service: \"bogus\") { name } }");
        Assert.Equal("BAD_USER_INPUT", unknown.ErrorCode);
    }

    [Fact]
    public async Task Health_endpoints_answer()
    {
        using var live = await Gateway.Http.GetAsync("/health");
        using var ready = await Gateway.Http.GetAsync("/health/ready");

        Assert.Equal(HttpStatusCode.OK, live.StatusCode);
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("cluster reachable", await ready.Content.ReadAsStringAsync());
    }

    private static async Task<GraphQLResult> Eventually(Func<Task<GraphQLResult>> read, Func<GraphQLResult, bool> done)
    {
        for (var i = 0; i < 100; i++)
        {
            var result = await read();
            if (done(result)) return result;
            await Task.Delay(50);
        }
        return await read();
    }
}
