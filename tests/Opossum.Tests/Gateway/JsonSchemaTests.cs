using System.Text.Json.Nodes;
using Opossum.Tests.Support;

namespace Opossum.Tests.Gateway;

/// <summary>
/// ChatInput.jsonSchema through the GraphQL door: the answer is checked against the schema before it is given out, an answer off
/// it falls back to the next model that takes schemas, and when none conforms the chat fails with INVALID_MODEL_OUTPUT.
/// </summary>
public sealed class JsonSchemaTests(StructuredOutputFixture fixture) : IClassFixture<StructuredOutputFixture>
{
    private const string Fields = "message conversationId backendUsed modelUsed cached fallbackReason traceId";
    private const string Chat = $"mutation Chat($input: ChatInput!) {{ chat(input: $input) {{ {Fields} }} }}";
    private const string Stream = $"subscription Stream($input: ChatInput!) {{ chatStream(input: $input) {{ delta done {Fields} }} }}";

    private GatewayHost Gateway => fixture.Gateway;

    private static string Unique(string text) => $"{text} {Guid.NewGuid():N}";

    private static string Text(JsonNode? node) => node!.GetValue<string>();

    /// <summary>The reply of a chat, or the chunks of a chatStream over server-sent events (the last carries the whole reply).</summary>
    private async Task<(JsonNode Reply, List<JsonNode> Chunks)> AskAsync(bool streamed, object input)
    {
        if (!streamed)
        {
            var result = await Gateway.PostAsync(Chat, new { input });
            Assert.True(result.Errors.Count == 0, result.ToString());
            return (result.Data!["chat"]!, []);
        }
        using var request = GatewayHost.GraphQLPost(Stream, new { input }, accept: "text/event-stream");
        using var response = await Gateway.SendUntracedAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        var chunks = body.Split("\n\n")
            .Select(message => message.Split('\n'))
            .Where(lines => lines.Contains("event: next"))
            .Select(lines => JsonNode.Parse(lines.Single(l => l.StartsWith("data:", StringComparison.Ordinal))["data:".Length..])!)
            .ToList();
        Assert.All(chunks, c => Assert.True(c["errors"] is null, c.ToJsonString()));
        var data = chunks.Select(c => c["data"]!["chatStream"]!).ToList();
        Assert.True(data[^1]["done"]!.GetValue<bool>(), body);
        return (data[^1], data);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_conforming_answer_is_given_out_and_the_backend_gets_the_schema(bool streamed)
    {
        var prompt = Unique("json please");

        var (reply, chunks) = await AskAsync(streamed, new { message = prompt, model = StructuredOutputFixture.Gemma, jsonSchema = StructuredOutputFixture.EchoSchema });

        Assert.Equal(prompt, Text(JsonNode.Parse(Text(reply["message"]))!["echo"]));
        Assert.Equal(StructuredOutputFixture.Gemma, Text(reply["modelUsed"]));
        Assert.Null(reply["fallbackReason"]);
        var call = Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == prompt);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(StructuredOutputFixture.EchoSchema), call.Format), call.Format?.ToJsonString());
        // A checked answer is asked for whole and given out once checked: a stream gets it as one chunk.
        Assert.False(call.Streamed);
        if (streamed)
            Assert.Equal(Text(reply["message"]), Text(Assert.Single(chunks)["delta"]));
    }

    [Fact]
    public async Task A_continued_conversation_answers_by_the_schema_too()
    {
        var first = await Gateway.PostAsync(Chat, new { input = new { message = Unique("hello"), model = StructuredOutputFixture.Gemma } });
        var conversationId = Text(first.Data!["chat"]!["conversationId"]);
        var prompt = Unique("now as json");

        var (reply, _) = await AskAsync(false, new { message = prompt, conversationId, model = StructuredOutputFixture.Gemma, jsonSchema = StructuredOutputFixture.EchoSchema });

        Assert.Equal(prompt, Text(JsonNode.Parse(Text(reply["message"]))!["echo"]));
        Assert.Equal(conversationId, Text(reply["conversationId"]));
        Assert.Equal(3, Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == prompt).Messages.Count(m => m.Role is "user" or "assistant"));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task An_answer_off_the_schema_falls_back_to_a_model_whose_answer_conforms(bool streamed)
    {
        var prompt = Unique("off then on");
        fixture.Ollama.JsonAnswers[prompt] = """{"echo":17}""";

        var (reply, _) = await AskAsync(streamed, new { message = prompt, model = StructuredOutputFixture.Gemma, jsonSchema = StructuredOutputFixture.EchoSchema });

        Assert.Equal(StructuredOutputFixture.Gemini, Text(reply["modelUsed"]));
        Assert.Equal(prompt, Text(JsonNode.Parse(Text(reply["message"]))!["echo"]));
        Assert.StartsWith("gemma3:1b (ollama) answered off the schema: the answer: /echo", Text(reply["fallbackReason"]));
        Assert.Equal(1, fixture.Ollama.CallsContaining(prompt));
        Assert.Equal(1, fixture.GeminiServer.CallsContaining(prompt));
    }

    [Fact]
    public async Task When_no_model_conforms_the_chat_fails_with_invalid_model_output_saying_what_did_not_match()
    {
        var prompt = Unique("never right");
        fixture.Ollama.JsonAnswers[prompt] = """{"echo":17}""";
        fixture.GeminiServer.JsonAnswers[prompt] = """{"answer":"yes"}""";

        var result = await Gateway.PostAsync(Chat, new { input = new { message = prompt, model = StructuredOutputFixture.Gemma, jsonSchema = StructuredOutputFixture.EchoSchema } });

        Assert.Equal(200, result.Status);
        Assert.Null(result.Data);
        ChatErrorTests.AssertError(result, "INVALID_MODEL_OUTPUT", "gemma3:1b (ollama) answered off the schema: the answer: /echo");
        Assert.Contains("gemini-thinking (gemini) answered off the schema: the answer:", result.ErrorMessage);
        var message = result.ErrorMessage!;
        Assert.Contains("echo", message[message.IndexOf("gemini-thinking", StringComparison.Ordinal)..]);
        Assert.Matches("^[0-9a-f]{32}$", result.Errors[0]!["extensions"]!["traceId"]!.GetValue<string>());
    }

    [Fact]
    public async Task When_no_model_conforms_a_stream_ends_with_invalid_model_output_and_no_chunk_of_the_answer()
    {
        var prompt = Unique("never right streamed");
        fixture.Ollama.JsonAnswers[prompt] = """{"echo":17}""";
        fixture.GeminiServer.JsonAnswers[prompt] = """{"echo":17}""";

        using var request = GatewayHost.GraphQLPost(Stream, new { input = new { message = prompt, model = StructuredOutputFixture.Gemma, jsonSchema = StructuredOutputFixture.EchoSchema } },
            accept: "text/event-stream");
        using var response = await Gateway.SendUntracedAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        var next = Assert.Single(body.Split("\n\n"), m => m.Contains("event: next", StringComparison.Ordinal));
        var error = JsonNode.Parse(next.Split('\n').Single(l => l.StartsWith("data:", StringComparison.Ordinal))["data:".Length..])!["errors"]![0]!;
        Assert.Equal("INVALID_MODEL_OUTPUT", Text(error["extensions"]!["code"]));
        Assert.Matches("^[0-9a-f]{32}$", Text(error["extensions"]!["traceId"]));
        Assert.Contains("gemma3:1b (ollama) answered off the schema", Text(error["message"]));
        Assert.DoesNotContain("\"done\"", body);
    }

    [Fact]
    public async Task An_answer_off_the_schema_is_not_cached_so_a_retry_generates_anew()
    {
        var prompt = Unique("retry me");
        fixture.Ollama.JsonAnswers[prompt] = """{"echo":17}""";
        fixture.GeminiServer.JsonAnswers[prompt] = """{"echo":17}""";
        var input = new { message = prompt, model = StructuredOutputFixture.Gemma, jsonSchema = StructuredOutputFixture.EchoSchema, noCache = false };
        Assert.Equal("INVALID_MODEL_OUTPUT", (await Gateway.PostAsync(Chat, new { input })).ErrorCode);

        fixture.Ollama.JsonAnswers.TryRemove(prompt, out _);
        var (reply, _) = await AskAsync(false, input);

        Assert.False(reply["cached"]!.GetValue<bool>());
        Assert.Equal(StructuredOutputFixture.Gemma, Text(reply["modelUsed"]));
        Assert.Equal(2, fixture.Ollama.CallsContaining(prompt));
        // Now it conforms, it is cached like any answer.
        Assert.True((await AskAsync(false, input)).Reply["cached"]!.GetValue<bool>());
    }

    [Theory]
    [InlineData("not json", "jsonSchema is not valid JSON")]
    [InlineData("[1, 2]", "jsonSchema must be a JSON Schema")]
    [InlineData("""{"type": "banana"}""", "jsonSchema is not a valid JSON Schema")]
    public async Task A_json_schema_that_is_not_one_is_refused_before_any_backend_call(string schema, string reason)
    {
        var prompt = Unique("bad schema");

        var result = await Gateway.PostAsync(Chat, new { input = new { message = prompt, jsonSchema = schema } });

        ChatErrorTests.AssertError(result, "BAD_USER_INPUT", reason);
        Assert.Equal(0, fixture.Ollama.CallsContaining(prompt) + fixture.GeminiServer.CallsContaining(prompt));
    }

    [Fact]
    public async Task A_json_schema_for_a_model_that_takes_none_is_bad_user_input_naming_schemas()
    {
        var result = await Gateway.PostAsync(Chat, new { input = new { message = "json", model = StructuredOutputFixture.Plain, jsonSchema = StructuredOutputFixture.EchoSchema } });

        ChatErrorTests.AssertError(result, "BAD_USER_INPUT", "Model 'plain' does not take schemas. Models that do: gemini-thinking, gemma3:1b.");
    }

    [Fact]
    public async Task The_models_query_says_which_models_take_tools_and_schemas()
    {
        var result = await Gateway.PostAsync("{ models { name supportsImages supportsTools supportsSchemas } }");

        var models = result.Data!["models"]!.AsArray().ToDictionary(m => Text(m!["name"]), m => (m!["supportsTools"]!.GetValue<bool>(), m["supportsSchemas"]!.GetValue<bool>()));
        Assert.Equal((true, true), models[StructuredOutputFixture.Gemini]);
        Assert.Equal((false, true), models[StructuredOutputFixture.Gemma]);
        Assert.Equal((false, false), models[StructuredOutputFixture.Plain]);
    }
}
