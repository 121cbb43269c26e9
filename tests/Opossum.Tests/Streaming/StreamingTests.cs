using System.Text.Json.Nodes;
using Opossum.Tests.Support;

namespace Opossum.Tests.Streaming;

/// <summary>
/// chatStream over both transports, driven by the protocols' reference clients (graphql-sse, graphql-ws)
/// against a real gateway and backends that stream in Ollama's and Gemini's wire formats.
/// </summary>
public sealed class StreamingTests(StreamingFixture fixture) : IClassFixture<StreamingFixture>
{
    private const string Stream = """
        subscription Stream($input: ChatInput!) {
          chatStream(input: $input) { delta done conversationId traceId message backendUsed modelUsed cached tokensUsed fallbackReason }
        }
        """;

    /// <summary>The model served by the loopback Ollama server (the default route is Gemini's).</summary>
    private const string Local = "gemma3:1b";

    private static ClientOp Op(string transport, object input, int? stopAfter = null, int delayMs = 0) =>
        new(transport, Stream, new { input }, stopAfter, delayMs);

    private static string Unique(string text) => $"{text} {Guid.NewGuid():N}";

    [Theory]
    [InlineData("sse", "gemma3:1b", "ollama")]
    [InlineData("ws", "gemma3:1b", "ollama")]
    [InlineData("sse", "gemini-thinking", "gemini")]
    [InlineData("ws", "gemini-thinking", "gemini")]
    public async Task The_answer_arrives_chunk_by_chunk_as_the_model_writes_it(string transport, string model, string backend)
    {
        var prompt = Unique("tell me about opossums");

        var events = await ReferenceClients.RunAsync(fixture.GraphQL, Op(transport, new { message = prompt, model }));

        var chunks = events.Chunks(0);
        var expected = (backend == "gemini" ? "gemini: " : "echo: ") + prompt;
        Assert.True(chunks.Count >= 5, events.ToString());
        Assert.Equal("complete", events.Of(0)[^1].Kind);
        Assert.Equal(expected, string.Concat(chunks.Select(c => c["delta"]!.GetValue<string>())));
        Assert.All(chunks.SkipLast(1), c => Assert.False(c["done"]!.GetValue<bool>()));
        Assert.All(chunks.SkipLast(1), c => Assert.Null(c["message"]));
        var last = chunks[^1];
        Assert.True(last["done"]!.GetValue<bool>());
        Assert.Equal(expected, last["message"]!.GetValue<string>());
        Assert.All(chunks, c => Assert.Equal(backend, c["backendUsed"]!.GetValue<string>()));
        Assert.Equal(model, last["modelUsed"]!.GetValue<string>());
        Assert.False(last["cached"]!.GetValue<bool>());
        Assert.True(last["tokensUsed"]!.GetValue<int>() > 0);
        Assert.Single(chunks.Select(c => c["traceId"]!.GetValue<string>()).Distinct());
        Assert.Matches("^[0-9a-f]{32}$", last["traceId"]!.GetValue<string>());
        Assert.Single(chunks.Select(c => c["conversationId"]!.GetValue<string>()).Distinct());

        // Spread out as the backend wrote them, not delivered at the end: the backend took >= 4 delays between its first and last words.
        var times = events.Of(0).Where(e => e.Kind == "next").Select(e => e.Milliseconds).ToList();
        Assert.True(times[^1] - times[0] >= 3 * StreamingFixture.ChunkDelay.TotalMilliseconds,
            $"chunks arrived within {times[^1] - times[0]:0} ms:\n{events}");
    }

    [Fact]
    public async Task Words_written_faster_than_the_interval_travel_together_after_a_first_chunk_sent_at_once()
    {
        // Twenty words 10 ms apart: the first chunk at once, then one chunk per 50 ms holding what came meanwhile.
        var prompt = Unique("a b c d e f g h i j k l m n o p q r s");
        fixture.Ollama.ChunkDelay = TimeSpan.FromMilliseconds(10);
        try
        {
            var events = await ReferenceClients.RunAsync(fixture.GraphQL, Op("sse", new { message = prompt, model = Local, noCache = true }));

            var chunks = events.Chunks(0);
            var words = ("echo: " + prompt).Split(' ').Length;
            Assert.Equal("echo: " + prompt, string.Concat(chunks.Select(c => c["delta"]!.GetValue<string>())));
            // The first chunk goes out with what had arrived when the first line was read (the first word, or two or three
            // when the reader was late), not an interval's worth: nothing waits for the words after it.
            var first = chunks[0]["delta"]!.GetValue<string>();
            Assert.StartsWith("echo: ", first);
            Assert.InRange(first.Split(' ', StringSplitOptions.RemoveEmptyEntries).Length, 1, 3);
            Assert.InRange(chunks.Count, 3, words / 2);
            var times = events.Of(0).Where(e => e.Kind == "next").Select(e => e.Milliseconds).ToList();
            // Batches leave at most one per interval; one the client reads late arrives close to the next, so the gaps
            // are judged together: from the first batch to the last before the end (which goes out when the stream ends).
            if (times.Count > 3)
            {
                var gap = (times[^2] - times[1]) / (times.Count - 3);
                Assert.True(gap >= 35, $"batches came {gap:0} ms apart on average:\n{events}");
            }
        }
        finally
        {
            fixture.Ollama.ChunkDelay = StreamingFixture.ChunkDelay;
        }
    }

    [Fact]
    public async Task Ten_identical_streams_share_one_backend_call_and_a_late_one_gets_the_whole_answer()
    {
        var prompt = Unique("coalesce these streams");
        var ops = Enumerable.Range(0, 10).Select(i => Op(i % 2 == 0 ? "sse" : "ws", new { message = prompt, model = Local }))
            .Append(Op("sse", new { message = prompt, model = Local }, delayMs: 500)) // joins while the answer is being written
            .ToArray();

        var events = await ReferenceClients.RunAsync(fixture.GraphQL, ops);

        Assert.Equal(1, fixture.Ollama.CallsContaining(prompt));
        for (var op = 0; op < ops.Length; op++)
        {
            var chunks = events.Chunks(op);
            Assert.True(chunks.Count > 0, events.ToString());
            Assert.Equal("echo: " + prompt, chunks[^1]["message"]?.GetValue<string>());
            Assert.Equal("echo: " + prompt, string.Concat(chunks.Select(c => c["delta"]!.GetValue<string>())));
        }
        Assert.Single(Enumerable.Range(0, ops.Length), op => !events.Chunks(op)[^1]["cached"]!.GetValue<bool>());
    }

    [Fact]
    public async Task A_completed_stream_is_cached_for_chat_and_a_cached_answer_streams_at_once()
    {
        var prompt = Unique("cache this stream");
        await ReferenceClients.RunAsync(fixture.GraphQL, Op("sse", new { message = prompt, model = Local }));

        var chat = await fixture.Gateway.ChatAsync(new { message = prompt, model = Local });
        var again = await ReferenceClients.RunAsync(fixture.GraphQL, Op("ws", new { message = prompt, model = Local }));

        Assert.True(chat.Data!["chat"]!["cached"]!.GetValue<bool>(), chat.ToString());
        Assert.Equal("echo: " + prompt, chat.Data["chat"]!["message"]!.GetValue<string>());
        var chunk = Assert.Single(again.Chunks(0));
        Assert.True(chunk["done"]!.GetValue<bool>());
        Assert.True(chunk["cached"]!.GetValue<bool>());
        Assert.Equal("echo: " + prompt, chunk["delta"]!.GetValue<string>());
        Assert.Equal(1, fixture.Ollama.CallsContaining(prompt));
    }

    [Theory]
    [InlineData("sse")]
    [InlineData("ws")]
    public async Task A_stream_continues_a_conversation_and_its_exchange_is_recorded(string transport)
    {
        var first = await fixture.Gateway.ChatAsync(new { message = Unique("my name is Ada"), model = Local });
        var id = first.Data!["chat"]!["conversationId"]!.GetValue<string>();
        var prompt = Unique("what is my name?");

        var events = await ReferenceClients.RunAsync(fixture.GraphQL, Op(transport, new { message = prompt, conversationId = id, model = Local }));

        Assert.Equal(id, events.Chunks(0)[^1]["conversationId"]!.GetValue<string>());
        var call = fixture.Ollama.Calls.Last(c => c.LastUserMessage == prompt);
        Assert.Contains(call.Messages, m => m.Role == "user" && m.Content.StartsWith("my name is Ada", StringComparison.Ordinal));
        var turns = await Turns(id);
        Assert.Equal(4, turns.Count);
        Assert.Equal(prompt, turns[2]!["content"]!.GetValue<string>());
        Assert.Equal("echo: " + prompt, turns[3]!["content"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("sse")]
    [InlineData("ws")]
    public async Task A_client_that_leaves_closes_the_backend_stream_and_nothing_is_recorded(string transport)
    {
        var first = await fixture.Gateway.ChatAsync(new { message = Unique("start a conversation"), model = Local });
        var id = first.Data!["chat"]!["conversationId"]!.GetValue<string>();
        var prompt = Unique("a long answer that nobody waits for to the very end of it");
        var aborted = fixture.Ollama.Aborted;

        var events = await ReferenceClients.RunAsync(fixture.GraphQL, Op(transport, new { message = prompt, conversationId = id, model = Local }, stopAfter: 2));

        Assert.Equal("stopped", events.Of(0)[^1].Kind);
        await Eventually(() => fixture.Ollama.Aborted > aborted, "the backend saw its stream closed");
        Assert.Equal(2, (await Turns(id)).Count);
        // Nothing was cached either: the same prompt is generated again.
        await ReferenceClients.RunAsync(fixture.GraphQL, Op(transport, new { message = prompt, conversationId = id, model = Local }));
        Assert.Equal(2, fixture.Ollama.CallsContaining(prompt));
    }

    [Theory]
    [InlineData("sse")]
    [InlineData("ws")]
    public async Task A_stream_cut_mid_answer_ends_in_an_error_and_is_neither_cached_nor_recorded(string transport)
    {
        var first = await fixture.Gateway.ChatAsync(new { message = Unique("start another conversation"), model = Local });
        var id = first.Data!["chat"]!["conversationId"]!.GetValue<string>();
        var prompt = Unique("cut me off in the middle please");
        fixture.Ollama.CutAfterChunks[prompt] = 3;

        var events = await ReferenceClients.RunAsync(fixture.GraphQL, Op(transport, new { message = prompt, conversationId = id, model = Local }));

        var chunks = events.Chunks(0);
        Assert.Equal(3, chunks.Count);
        Assert.All(chunks, c => Assert.False(c["done"]!.GetValue<bool>()));
        var error = Error(events, 0, transport);
        Assert.Equal("BACKEND_UNAVAILABLE", error["extensions"]!["code"]!.GetValue<string>());
        Assert.Contains("was cut after", error["message"]!.GetValue<string>());
        Assert.Contains("gemma3:1b (ollama)", error["message"]!.GetValue<string>());
        Assert.Equal(chunks[0]["traceId"]!.GetValue<string>(), error["extensions"]!["traceId"]!.GetValue<string>());
        Assert.Equal(2, (await Turns(id)).Count);

        fixture.Ollama.CutAfterChunks.TryRemove(prompt, out _);
        var chat = await fixture.Gateway.ChatAsync(new { message = prompt, conversationId = id, model = Local });
        Assert.False(chat.Data!["chat"]!["cached"]!.GetValue<bool>(), chat.ToString());
        Assert.Equal(2, fixture.Ollama.CallsContaining(prompt));
    }

    [Theory]
    [InlineData("sse")]
    [InlineData("ws")]
    public async Task Bad_input_gets_the_same_typed_errors_as_chat(string transport)
    {
        var events = await ReferenceClients.RunAsync(fixture.GraphQL,
            Op(transport, new { message = "   " }),
            Op(transport, new { message = "hi", model = "no-such-model" }),
            Op(transport, new { message = "hi", conversationId = "never-started-" + Guid.NewGuid().ToString("N") }));

        Assert.Equal("BAD_USER_INPUT", Error(events, 0, transport)["extensions"]!["code"]!.GetValue<string>());
        Assert.Equal("MODEL_NOT_FOUND", Error(events, 1, transport)["extensions"]!["code"]!.GetValue<string>());
        Assert.Equal("CONVERSATION_NOT_FOUND", Error(events, 2, transport)["extensions"]!["code"]!.GetValue<string>());
        Assert.All(new[] { 0, 1, 2 }, op => Assert.Matches("^[0-9a-f]{32}$", Error(events, op, transport)["extensions"]!["traceId"]!.GetValue<string>()));
    }

    [Fact]
    public async Task A_model_that_fails_before_its_first_chunk_falls_back_to_the_next()
    {
        var prompt = Unique("gemini is down");
        fixture.Gemini.Behaviours[prompt] = new GeminiBehaviour(GeminiFailure.ServerError);

        var events = await ReferenceClients.RunAsync(fixture.GraphQL, Op("sse", new { message = prompt, model = "gemini-thinking" }));

        var last = events.Chunks(0)[^1];
        Assert.True(last["done"]!.GetValue<bool>(), events.ToString());
        Assert.Equal("ollama", last["backendUsed"]!.GetValue<string>());
        Assert.Contains("gemini-thinking (gemini)", last["fallbackReason"]!.GetValue<string>());
    }

    // SSE ends an operation that failed with a next event holding the errors, then complete; WS with an error message.
    private static JsonNode Error(ClientEvents events, int op, string transport)
    {
        var seen = events.Of(op);
        if (transport == "ws")
        {
            var error = seen.Single(e => e.Kind == "error");
            return error.Payload!.AsArray()[0]!;
        }
        Assert.Equal("complete", seen[^1].Kind);
        return seen.Where(e => e.Kind == "next").Select(e => e.Payload!["errors"]).Single(e => e is not null)!.AsArray()[0]!;
    }

    private async Task<JsonArray> Turns(string conversationId)
    {
        var result = await fixture.Gateway.PostAsync("query($id: ID!) { conversation(id: $id) { turns { role content } } }", new { id = conversationId });
        return result.Data!["conversation"]!["turns"]!.AsArray();
    }

    private static async Task Eventually(Func<bool> condition, string what)
    {
        for (var i = 0; i < 100 && !condition(); i++)
            await Task.Delay(50);
        Assert.True(condition(), what);
    }
}
