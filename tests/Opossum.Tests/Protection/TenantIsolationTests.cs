using System.Net;
using System.Net.Http.Headers;
using System.Text.Json.Nodes;
using Opossum.Tests.Streaming;
using static Opossum.Tests.Protection.ProtectedGateway;

namespace Opossum.Tests.Protection;

/// <summary>What one key can see of another's: nothing of its conversations, and of the backends only what is not operator detail.</summary>
public sealed class TenantIsolationTests(ProtectedGateway fixture) : IClassFixture<ProtectedGateway>
{
    private const string Read = "query($id: ID!) { conversation(id: $id) { id turns { role content } } }";
    private const string Continue = "mutation($id: ID!, $m: String!) { chat(input: {conversationId: $id, message: $m}) { message conversationId } }";

    private static string Unique(string text) => $"{text} {Guid.NewGuid():N}";

    private static string Code(JsonNode body) => body["errors"]![0]!["extensions"]!["code"]!.GetValue<string>();

    private static string Message(JsonNode body) => body["errors"]![0]!["message"]!.GetValue<string>();

    [Fact]
    public async Task Another_key_cannot_read_continue_or_end_a_conversation_and_learns_nothing_about_it()
    {
        var (_, started) = await fixture.PostAsync("mutation($m: String!) { chat(input: {message: $m}) { conversationId } }", new { m = Unique("alice's secret") }, Alice);
        var id = started["data"]!["chat"]!["conversationId"]!.GetValue<string>();
        var absent = Guid.NewGuid().ToString("N");
        var calls = fixture.Ollama.Calls.Count;

        // Bob holds alice's id: each answer is the one for an id that does not exist.
        foreach (var probe in new[] { id, absent })
        {
            var (_, read) = await fixture.PostAsync(Read, new { id = probe }, Bob);
            Assert.Null(read["errors"]);
            Assert.Null(read["data"]!["conversation"]);

            var (response, continued) = await fixture.PostAsync(Continue, new { id = probe, m = "tell me hers" }, Bob);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("CONVERSATION_NOT_FOUND", Code(continued));
            Assert.Equal($"Conversation '{probe}' does not exist (it was never started or has ended). Omit conversationId to start a new one.", Message(continued));

            var (_, ended) = await fixture.PostAsync("mutation($id: ID!) { endConversation(id: $id) }", new { id = probe }, Bob);
            Assert.False(ended["data"]!["endConversation"]!.GetValue<bool>());
        }
        var streamed = await ReferenceClients.RunWithKeyAsync(fixture.GraphQL, Bob,
            new ClientOp("sse", "subscription($input: ChatInput!) { chatStream(input: $input) { delta done } }", new { input = new { message = "stream hers", conversationId = id } }));
        Assert.Contains("CONVERSATION_NOT_FOUND", streamed.ToString());
        Assert.Equal(calls, fixture.Ollama.Calls.Count); // none of bob's attempts reached a backend

        // Alice's conversation is whole and still hers.
        var (_, mine) = await fixture.PostAsync(Read, new { id }, Alice);
        Assert.Equal(id, mine["data"]!["conversation"]!["id"]!.GetValue<string>());
        Assert.Equal(2, mine["data"]!["conversation"]!["turns"]!.AsArray().Count);
        var (_, next) = await fixture.PostAsync(Continue, new { id, m = Unique("and now?") }, Alice);
        Assert.Equal(id, next["data"]!["chat"]!["conversationId"]!.GetValue<string>());
        Assert.Equal(4, (await fixture.PostAsync(Read, new { id }, Alice)).Body["data"]!["conversation"]!["turns"]!.AsArray().Count);
    }

    [Fact]
    public async Task Spans_never_carry_a_conversation_id_in_clear()
    {
        var (_, started) = await fixture.PostAsync("mutation($m: String!) { chat(input: {message: $m}) { conversationId } }", new { m = Unique("traced") }, Carol);
        var id = started["data"]!["chat"]!["conversationId"]!.GetValue<string>();
        await fixture.PostAsync(Continue, new { id, m = Unique("traced again") }, Carol);
        await fixture.PostAsync(Read, new { id }, Carol);

        var spans = fixture.Gateway.Spans.Snapshot();
        // The grain calls are traced with the grain's key, a hash of the owner and the id.
        var key = Opossum.Gateway.Chat.ConversationKeys.For(new Opossum.Gateway.Protection.Caller("carol", IsAdmin: false, Keyed: true), id);
        Assert.Contains(spans, s => s.DisplayName.Contains("IConversationGrain", StringComparison.Ordinal)
            && s.TagObjects.Any(t => t.Value?.ToString()?.Contains(key, StringComparison.Ordinal) == true));
        var leaks = spans.Where(s => s.DisplayName.Contains(id, StringComparison.Ordinal)
            || s.TagObjects.Any(t => t.Value?.ToString()?.Contains(id, StringComparison.Ordinal) == true)).Select(s => s.DisplayName).ToList();
        Assert.Empty(leaks);
    }

    [Fact]
    public async Task Server_urls_raw_errors_and_recent_traces_are_for_admin_keys()
    {
        var failing = Unique("crash please");
        fixture.Ollama.Failures[failing] = (HttpStatusCode.InternalServerError, "model runner at /srv/models/gemma crashed");
        await fixture.PostAsync("mutation($m: String!) { chat(input: {message: $m, noCache: true}) { message } }", new { m = failing }, Dave);
        const string Services = "{ services { name state lastError servers { url state lastError } } }";

        var (_, admin) = await fixture.PostAsync(Services, null, Ops);
        var adminOllama = admin["data"]!["services"]!.AsArray().Single(s => s!["name"]!.GetValue<string>() == "ollama")!;
        Assert.Equal(fixture.Ollama.BaseUrl.ToString(), adminOllama["servers"]![0]!["url"]!.GetValue<string>());
        Assert.Contains("crashed", adminOllama["servers"]![0]!["lastError"]!.GetValue<string>());

        var (_, client) = await fixture.PostAsync(Services, null, Dave);
        Assert.Null(client["errors"]);
        var text = client["data"]!.ToJsonString();
        Assert.DoesNotContain("127.0.0.1", text);
        Assert.DoesNotContain("crashed", text);
        Assert.DoesNotContain("GEMINI_API_KEY", text);
        var ollama = client["data"]!["services"]!.AsArray().Single(s => s!["name"]!.GetValue<string>() == "ollama")!;
        Assert.Equal("ollama server 1", ollama["servers"]![0]!["url"]!.GetValue<string>());
        Assert.Equal("the backend answered with a server error", ollama["servers"]![0]!["lastError"]!.GetValue<string>());
        Assert.Equal(adminOllama["servers"]![0]!["state"]!.GetValue<string>(), ollama["servers"]![0]!["state"]!.GetValue<string>());

        var (_, traces) = await fixture.PostAsync("{ recentTraces { traceId } }", null, Dave);
        Assert.Equal("FORBIDDEN", Code(traces));
        Assert.Null((await fixture.PostAsync("{ recentTraces { traceId } }", null, Ops)).Body["errors"]);
        foreach (var (key, status) in new[] { (Dave, HttpStatusCode.Forbidden), (Ops, HttpStatusCode.OK) })
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/traces/recent");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
            using var response = await fixture.Gateway.SendUntracedAsync(request);
            Assert.Equal(status, response.StatusCode);
        }
    }
}

public sealed class KeyRotationTests
{
    [Fact]
    public void Two_keys_of_one_name_are_one_caller_so_a_rotation_keeps_its_conversations()
    {
        var keys = Opossum.Gateway.Protection.ApiKeys.From(Microsoft.Extensions.Configuration.MemoryConfigurationBuilderExtensions.AddInMemoryCollection(new Microsoft.Extensions.Configuration.ConfigurationBuilder(),
            new Dictionary<string, string?> { ["Opossum:ApiKeys"] = "chat-ui:old-secret-1,chat-ui:new-secret-2,batch:other-3" }).Build());
        var old = keys.Authenticate("Bearer old-secret-1", IPAddress.Loopback, out _)!;
        var rotated = keys.Authenticate("Bearer new-secret-2", IPAddress.Loopback, out _)!;
        var other = keys.Authenticate("Bearer other-3", IPAddress.Loopback, out _)!;

        Assert.Equal("chat-ui", old.Name);
        Assert.Equal(old, rotated);
        Assert.Equal(Opossum.Gateway.Chat.ConversationKeys.For(old, "c1"), Opossum.Gateway.Chat.ConversationKeys.For(rotated, "c1"));
        Assert.NotEqual(Opossum.Gateway.Chat.ConversationKeys.For(old, "c1"), Opossum.Gateway.Chat.ConversationKeys.For(other, "c1"));
    }
}
