using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Opossum.Grains;
using Opossum.Tests.Streaming;
using Opossum.Tests.Support;
using static Opossum.Tests.Protection.ProtectedGateway;

namespace Opossum.Tests.Protection;

public sealed class ProtectionTests(ProtectedGateway fixture) : IClassFixture<ProtectedGateway>
{
    private const string Stream = "subscription($input: ChatInput!) { chatStream(input: $input) { delta done } }";

    private static string Unique(string text) => $"{text} {Guid.NewGuid():N}";

    private static string Code(JsonNode body) => body["errors"]![0]!["extensions"]!["code"]!.GetValue<string>();

    [Fact]
    public async Task A_request_without_a_valid_key_is_refused_with_401_while_health_and_metrics_stay_open()
    {
        var calls = fixture.Ollama.Calls.Count;
        foreach (var key in new[] { null, "not-a-key", Alice + "x", "" })
        {
            var (response, body) = await fixture.ChatAsync(Unique("who are you"), key);
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("Bearer", response.Headers.WwwAuthenticate.Single().Scheme);
            Assert.Equal("UNAUTHENTICATED", Code(body));
            Assert.Matches("^[0-9a-f]{32}$", body["errors"]![0]!["extensions"]!["traceId"]!.GetValue<string>());
            Assert.Null(body["data"]);
        }
        using (var basic = new HttpRequestMessage(HttpMethod.Post, "/graphql") { Content = new StringContent("""{"query":"{ models { name } }"}""", Encoding.UTF8, "application/json") })
        {
            basic.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes("alice:" + Alice)));
            using var refused = await fixture.Gateway.SendUntracedAsync(basic);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }
        Assert.Equal(calls, fixture.Ollama.Calls.Count); // a refused request costs nothing

        using var get = await fixture.Gateway.GetUntracedAsync("/graphql?query=%7Bmodels%7Bname%7D%7D");
        Assert.Equal(HttpStatusCode.Unauthorized, get.StatusCode);
        using var traces = await fixture.Gateway.GetUntracedAsync("/traces/recent");
        Assert.Equal(HttpStatusCode.Unauthorized, traces.StatusCode);
        foreach (var open in new[] { "/health", "/health/ready", "/metrics" })
        {
            using var response = await fixture.Gateway.GetUntracedAsync(open);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var (ok, answer) = await fixture.ChatAsync(Unique("hello with a key"), Bob);
        Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        Assert.StartsWith("echo: hello with a key", answer["data"]!["chat"]!["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Streams_take_the_key_in_the_header_over_sse_and_in_connection_init_over_websocket()
    {
        var ops = new[] { new ClientOp("sse", Stream, new { input = new { message = Unique("stream with a key") } }), new ClientOp("ws", Stream, new { input = new { message = Unique("socket with a key") } }) };
        var keyed = await ReferenceClients.RunWithKeyAsync(fixture.GraphQL, Carol, ops);
        Assert.All(new[] { 0, 1 }, op => Assert.True(keyed.Chunks(op)[^1]["done"]!.GetValue<bool>(), keyed.ToString()));

        var refused = await ReferenceClients.RunWithKeyAsync(fixture.GraphQL, "wrong-key", ops);
        Assert.Contains("401", refused.Of(0).Single(e => e.Kind == "error").Payload!["message"]!.GetValue<string>());
        Assert.Equal(4403, refused.Of(1).Single(e => e.Kind == "error").Payload!["closeCode"]!.GetValue<int>());
        var anonymous = await ReferenceClients.RunAsync(fixture.GraphQL, ops[1]);
        Assert.Equal(4403, anonymous.Of(0).Single(e => e.Kind == "error").Payload!["closeCode"]!.GetValue<int>());
    }

    [Fact]
    public async Task Only_an_admin_key_may_force_a_service_check()
    {
        const string Check = "mutation { forceServiceCheck(service: \"ollama\") { name state } }";
        var (clientResponse, client) = await fixture.PostAsync(Check, null, Alice);
        Assert.Equal(HttpStatusCode.OK, clientResponse.StatusCode);
        Assert.Equal("FORBIDDEN", Code(client));
        Assert.Contains("admin key", client["errors"]![0]!["message"]!.GetValue<string>());
        Assert.Null(client["data"]);

        var (_, admin) = await fixture.PostAsync(Check, null, Ops);
        Assert.Null(admin["errors"]);
        Assert.Equal("ollama", admin["data"]!["forceServiceCheck"]![0]!["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_document_too_costly_or_too_deep_is_refused_before_anything_runs_while_normal_ones_pass()
    {
        var calls = fixture.Ollama.Calls.Count;
        var aliases = string.Join(' ', Enumerable.Range(0, 200).Select(i => $"c{i}: chat(input: {{message: \"alias {i} {Guid.NewGuid():N}\", noCache: true}}) {{ message }}"));
        var (response, body) = await fixture.PostAsync($"mutation {{ {aliases} }}", null, Dave);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("QUERY_TOO_COMPLEX", Code(body));
        Assert.Null(body["data"]);
        Assert.Equal(calls, fixture.Ollama.Calls.Count);
        Assert.Equal(0, (await fixture.UsageAsync(Dave))["chatsThisMinute"]!.GetValue<int>()); // refused: it cost nothing

        // 15 fields deep, beside a data field (only introspection nests that far in this schema); introspection alone may nest to 20.
        var deep = "{ models { name } __schema { types { fields { type { " + string.Concat(Enumerable.Repeat("ofType { ", 10)) + "name" + new string('}', 14) + " }";
        var (deepResponse, deepBody) = await fixture.PostAsync(deep, null, Dave);
        Assert.Equal(HttpStatusCode.BadRequest, deepResponse.StatusCode);
        Assert.Equal("QUERY_TOO_COMPLEX", Code(deepBody));
        Assert.Contains("nested", deepBody["errors"]![0]!["message"]!.GetValue<string>(), StringComparison.OrdinalIgnoreCase);
        var deeper = "{ __schema { types { fields { type { " + string.Concat(Enumerable.Repeat("ofType { ", 16)) + "name" + new string('}', 20) + " }";
        var (deeperResponse, deeperBody) = await fixture.PostAsync(deeper, null, Dave);
        Assert.Equal(HttpStatusCode.BadRequest, deeperResponse.StatusCode);
        Assert.Equal("QUERY_TOO_COMPLEX", Code(deeperBody));

        // What clients send every day passes: the README's chat with every field, the status queries, and the introspection graphql-js sends.
        var (_, chat) = await fixture.PostAsync(
            "mutation Chat($input: ChatInput!) { chat(input: $input) { message conversationId backendUsed modelUsed cached tokensUsed durationMs traceId fallbackReason } }",
            new { input = new { message = Unique("a normal question") } }, Dave);
        Assert.Null(chat["errors"]);
        var (_, status) = await fixture.PostAsync(
            "{ serviceStatus { ollamaAvailable geminiAvailable allServicesAvailable } services { name state servers { url state inFlight parallelism } } models { name backend } cacheStats { hits misses } }",
            null, Dave);
        Assert.True(status["errors"] is null, status.ToJsonString());
        var (introspectionResponse, introspection) = await fixture.PostAsync(await ReferenceClients.IntrospectionQueryAsync(), null, Dave);
        Assert.True(introspectionResponse.StatusCode == HttpStatusCode.OK, introspection.ToJsonString()[..Math.Min(600, introspection.ToJsonString().Length)]);
        Assert.Null(introspection["errors"]);
        Assert.Equal("Query", introspection["data"]!["__schema"]!["queryType"]!["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task Over_the_chat_limit_a_key_gets_429_with_Retry_After_while_another_key_still_chats()
    {
        for (var i = 0; i < ProtectedGateway.ChatsPerMinute; i++)
        {
            var (ok, _) = await fixture.ChatAsync(Unique($"chat {i}"), Alice);
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }
        var calls = fixture.Ollama.Calls.Count;
        var (response, body) = await fixture.ChatAsync(Unique("one too many"), Alice);
        Assert.Equal(HttpStatusCode.TooManyRequests, response.StatusCode);
        Assert.Equal(TimeSpan.FromSeconds(50), response.Headers.RetryAfter!.Delta); // the clock stands at 12:00:10
        Assert.Equal("RATE_LIMITED", Code(body));
        var message = body["errors"]![0]!["message"]!.GetValue<string>();
        Assert.Contains("3 chats per minute", message);
        Assert.Contains("12:01:00 UTC", message);
        Assert.Equal(50, body["errors"]![0]!["extensions"]!["retryAfter"]!.GetValue<int>());
        Assert.Equal(calls, fixture.Ollama.Calls.Count);

        // Streams count the same, and are refused the same: 429 before the stream opens, an error on a socket.
        var streams = await ReferenceClients.RunWithKeyAsync(fixture.GraphQL, Alice,
            new ClientOp("sse", Stream, new { input = new { message = Unique("stream over the limit") } }),
            new ClientOp("ws", Stream, new { input = new { message = Unique("socket over the limit") } }));
        Assert.Contains("429", streams.Of(0).Single(e => e.Kind == "error").Payload!["message"]!.GetValue<string>());
        Assert.Equal("RATE_LIMITED", streams.Of(1).Single(e => e.Kind == "error").Payload![0]!["extensions"]!["code"]!.GetValue<string>());

        var (other, _) = await fixture.ChatAsync(Unique("bob is not alice"), Bob);
        Assert.Equal(HttpStatusCode.OK, other.StatusCode);

        var usage = await fixture.UsageAsync(Alice);
        Assert.Equal("alice", usage["key"]!.GetValue<string>());
        Assert.Equal(3, usage["chatsThisMinute"]!.GetValue<int>()); // refused ones are not counted
        Assert.Equal(3, usage["chatsPerMinute"]!.GetValue<int>());
        Assert.Equal("2026-12-02T12:01:00Z", usage["minuteResetsAt"]!.GetValue<string>());
        Assert.Equal(1000, usage["tokensPerDay"]!.GetValue<long>());

        fixture.Clock.Advance(TimeSpan.FromSeconds(60));
        var (again, _) = await fixture.ChatAsync(Unique("a new minute"), Alice);
        Assert.Equal(HttpStatusCode.OK, again.StatusCode);
        Assert.Equal(1, (await fixture.UsageAsync(Alice))["chatsThisMinute"]!.GetValue<int>());
    }

    [Fact]
    public async Task The_token_budget_counts_generated_answers_only_and_refuses_once_it_is_used_up()
    {
        var prompt = Unique("count my tokens: " + new string('x', 200));
        var (_, first) = await fixture.ChatAsync(prompt, Erin);
        var tokens = first["data"]!["chat"]!["tokensUsed"]!.GetValue<int>();
        Assert.Equal(tokens, (await fixture.UsageAsync(Erin))["tokensToday"]!.GetValue<long>());

        var (_, cached) = await fixture.ChatAsync(prompt, Erin);
        Assert.True(cached["data"]!["chat"]!["cached"]!.GetValue<bool>());
        Assert.Equal(tokens, (await fixture.UsageAsync(Erin))["tokensToday"]!.GetValue<long>()); // a cached answer costs no tokens

        fixture.Clock.Advance(TimeSpan.FromSeconds(60)); // a new minute: the chat limit is not what stops erin below
        long used = tokens;
        var chats = 0;
        while (used < ProtectedGateway.TokensPerDay && chats++ < 10)
        {
            var (response, body) = await fixture.ChatAsync(Unique("spend more: " + new string('y', 200)), Erin);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            used += body["data"]!["chat"]!["tokensUsed"]!.GetValue<int>();
            if (chats % 3 == 0) fixture.Clock.Advance(TimeSpan.FromSeconds(60));
        }
        Assert.Equal(used, (await fixture.UsageAsync(Erin))["tokensToday"]!.GetValue<long>());

        fixture.Clock.Advance(TimeSpan.FromSeconds(60));
        var (refused, refusal) = await fixture.ChatAsync(Unique("one more"), Erin);
        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.Equal("RATE_LIMITED", Code(refusal));
        Assert.Contains("1000 tokens per day", refusal["errors"]![0]!["message"]!.GetValue<string>());
        var resets = (await fixture.UsageAsync(Erin))["dayResetsAt"]!.GetValue<string>();
        Assert.Equal("2026-12-03T00:00:00Z", resets);
        var untilMidnight = new DateTimeOffset(2026, 12, 3, 0, 0, 0, TimeSpan.Zero) - fixture.Clock.GetUtcNow();
        Assert.InRange(refused.Headers.RetryAfter!.Delta!.Value, untilMidnight - TimeSpan.FromSeconds(1), untilMidnight + TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Without_keys_the_server_is_open_and_limits_count_per_client_address()
    {
        await using var open = await GatewayHost.StartAsync(fixture.Ollama.BaseUrl, new Dictionary<string, string?> { ["Opossum:Limits:ChatsPerMinute"] = "2" },
            services => services.AddKeyedSingleton<TimeProvider>(ProviderNames.Clock, new FakeTimeProvider(new DateTimeOffset(2026, 12, 2, 9, 30, 5, TimeSpan.Zero))));
        const string Chat = "mutation($m: String!) { chat(input: {message: $m}) { message } }";
        Assert.Equal(200, (await open.PostAsync(Chat, new { m = Unique("open 1") })).Status);
        Assert.Equal(200, (await open.PostAsync(Chat, new { m = Unique("open 2") })).Status);
        var refused = await open.PostAsync(Chat, new { m = Unique("open 3") });
        Assert.Equal(429, refused.Status);
        Assert.Equal("RATE_LIMITED", refused.ErrorCode);
        var usage = (await open.PostAsync("{ usage { key chatsThisMinute } }")).Data!["usage"]!;
        Assert.Equal("ip:127.0.0.1", usage["key"]!.GetValue<string>());
        Assert.Equal(2, usage["chatsThisMinute"]!.GetValue<int>());
        // Without keys everyone may run operator actions, as before keys existed.
        Assert.Null((await open.PostAsync("mutation { forceServiceCheck { name } }")).Body!["errors"]);
    }

    [Fact]
    public async Task No_key_appears_in_logs_spans_or_answers()
    {
        await fixture.ChatAsync(Unique("log me"), Bob);
        await fixture.ChatAsync(Unique("log me too"), "guess-" + Bob);
        await fixture.PostAsync("mutation { forceServiceCheck { name } }", null, Bob);
        await ReferenceClients.RunWithKeyAsync(fixture.GraphQL, Bob, new ClientOp("ws", Stream, new { input = new { message = Unique("socket") } }));

        var keys = new[] { Alice, Bob, Carol, Dave, Erin, Ops };
        var logs = string.Join('\n', fixture.Gateway.Logs.Lines);
        Assert.NotEmpty(logs);
        var spans = fixture.Gateway.Spans.Snapshot();
        var attributes = string.Join('\n', spans.SelectMany(s => s.TagObjects.Select(t => $"{t.Key}={t.Value}")).Concat(spans.SelectMany(s => s.Baggage.Select(b => b.Value))));
        foreach (var key in keys)
        {
            Assert.DoesNotContain(key, logs);
            Assert.DoesNotContain(key, attributes);
        }
        // Spans name the key's name.
        Assert.Contains(spans, s => s.GetTagItem("api_key.name") as string == "bob");
    }
}
