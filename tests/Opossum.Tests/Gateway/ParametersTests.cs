using System.Diagnostics;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;

namespace Opossum.Tests.Gateway;

/// <summary>A gateway with a configured system prompt in front of loopback Ollama and Gemini servers, which record what they were sent.</summary>
public sealed class ParametersFixture : IAsyncLifetime
{
    public const string ConfiguredSystem = "You are a helpful opossum.";
    public const string Ollama = "gemma3:1b";
    public const string Gemini = "gemini-thinking";

    public FakeOllama OllamaServer { get; private set; } = null!;
    public FakeGemini GeminiServer { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        OllamaServer = await FakeOllama.StartAsync();
        GeminiServer = await FakeGemini.StartAsync();
        Gateway = await GatewayHost.StartAsync(OllamaServer.BaseUrl, new Dictionary<string, string?>
        {
            ["GEMINI_API_KEY"] = FakeGemini.ApiKey,
            ["GEMINI_BASE_URL"] = GeminiServer.BaseUrl.ToString(),
            ["Opossum:Conversations:SystemPrompt"] = ConfiguredSystem,
            ["Models:0:Name"] = Ollama,
            ["Models:0:Backend"] = "ollama",
            ["Models:0:ApiName"] = "gemma3:1b",
            ["Models:1:Name"] = Gemini,
            ["Models:1:Backend"] = "gemini",
            ["Models:1:ApiName"] = "gemini-2.0-flash",
        });
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await OllamaServer.DisposeAsync();
        await GeminiServer.DisposeAsync();
    }
}

/// <summary>
/// ChatInput's system prompt and sampling parameters, through the GraphQL door to both backends as their wire protocols carry
/// them, and the finish reason and token counts that come back (docs/contracts.md, "GraphQL").
/// </summary>
public sealed class ParametersTests(ParametersFixture fixture) : IClassFixture<ParametersFixture>
{
    private const string Fields = "message backendUsed modelUsed cached traceId finishReason inputTokens outputTokens";
    private const string Chat = $"mutation Chat($input: ChatInput!) {{ chat(input: $input) {{ {Fields} }} }}";
    private const string Stream = $"subscription Stream($input: ChatInput!) {{ chatStream(input: $input) {{ delta done {Fields} }} }}";

    private GatewayHost Gateway => fixture.Gateway;

    private static string Unique(string text) => $"{text} {Guid.NewGuid():N}";

    /// <summary>The reply of a chat (the mutation), or of a chatStream read over server-sent events: its last chunk, which carries the whole answer.</summary>
    private async Task<JsonNode> AskAsync(bool streamed, object input)
    {
        if (!streamed)
        {
            var result = await Gateway.PostAsync(Chat, new { input });
            Assert.True(result.Errors.Count == 0, result.ToString());
            return result.Data!["chat"]!;
        }
        var chunks = await StreamAsync(input);
        var last = chunks[^1];
        Assert.True(last["done"]!.GetValue<bool>(), string.Join("\n", chunks));
        Assert.Equal(last["message"]!.GetValue<string>(), string.Concat(chunks.Select(c => c["delta"]!.GetValue<string>())));
        Assert.All(chunks.SkipLast(1), c => Assert.Null(c["finishReason"]));
        return last;
    }

    // graphql-sse's distinct connections mode: an "event: next" per chunk, then "event: complete".
    private async Task<List<JsonNode>> StreamAsync(object input)
    {
        using var request = GatewayHost.GraphQLPost(Stream, new { input }, accept: "text/event-stream");
        using var response = await Gateway.SendUntracedAsync(request);
        var body = await response.Content.ReadAsStringAsync();
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        var chunks = new List<JsonNode>();
        foreach (var message in body.Split("\n\n"))
        {
            var lines = message.Split('\n');
            if (!lines.Contains("event: next")) continue;
            var data = JsonNode.Parse(lines.Single(l => l.StartsWith("data:", StringComparison.Ordinal))["data:".Length..])!;
            Assert.True(data["errors"] is null, data.ToJsonString());
            chunks.Add(data["data"]!["chatStream"]!);
        }
        Assert.EndsWith("event: complete\ndata:", body.TrimEnd('\n'));
        Assert.NotEmpty(chunks);
        return chunks;
    }

    private static T Value<T>(JsonNode? node) => node!.GetValue<T>();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Parameters_reach_ollama_as_its_options(bool streamed)
    {
        var prompt = Unique("sample me");

        var reply = await AskAsync(streamed, new
        {
            message = prompt, model = ParametersFixture.Ollama, temperature = 0.5, topP = 0.9, maxTokens = 500, stop = new[] { "ZZZ", "QQQ" }, seed = 42,
        });

        var call = Assert.Single(fixture.OllamaServer.Calls, c => c.LastUserMessage == prompt);
        Assert.Equal(streamed, call.Streamed);
        Assert.Equal("""{"temperature":0.5,"top_p":0.9,"num_predict":500,"stop":["ZZZ","QQQ"],"seed":42}""", call.Options!.ToJsonString());
        Assert.Equal("echo: " + prompt, Value<string>(reply["message"]));
        Assert.Equal("stop", Value<string>(reply["finishReason"]));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Parameters_reach_gemini_as_its_generation_config_and_the_system_prompt_as_its_system_instruction(bool streamed)
    {
        var prompt = Unique("sample me on gemini");

        var reply = await AskAsync(streamed, new
        {
            message = prompt, model = ParametersFixture.Gemini, system = "Answer in French.", temperature = 1.5, topP = 0.25, maxTokens = 400,
            stop = new[] { "END" }, seed = 7,
        });

        var call = Assert.Single(fixture.GeminiServer.Calls, c => c.LastUserText == prompt);
        Assert.Equal("""{"temperature":1.5,"topP":0.25,"maxOutputTokens":400,"stopSequences":["END"],"seed":7}""", call.GenerationConfig!.ToJsonString());
        Assert.Equal("Answer in French.", call.SystemInstruction);
        Assert.Equal(["user"], call.Roles);
        Assert.Equal("gemini: " + prompt, Value<string>(reply["message"]));
        Assert.Equal("stop", Value<string>(reply["finishReason"]));
    }

    [Fact]
    public async Task Without_parameters_neither_backend_is_sent_options_and_only_the_set_ones_are_sent()
    {
        var plain = Unique("no options");
        var some = Unique("one option");

        await AskAsync(false, new { message = plain, model = ParametersFixture.Ollama });
        await AskAsync(false, new { message = plain, model = ParametersFixture.Gemini });
        await AskAsync(true, new { message = some, model = ParametersFixture.Ollama, temperature = 0.0 });
        await AskAsync(true, new { message = some, model = ParametersFixture.Gemini, seed = -3 });

        Assert.Null(Assert.Single(fixture.OllamaServer.Calls, c => c.LastUserMessage == plain).Options);
        Assert.Null(Assert.Single(fixture.GeminiServer.Calls, c => c.LastUserText == plain).GenerationConfig);
        Assert.Equal("""{"temperature":0}""", Assert.Single(fixture.OllamaServer.Calls, c => c.LastUserMessage == some).Options!.ToJsonString());
        Assert.Equal("""{"seed":-3}""", Assert.Single(fixture.GeminiServer.Calls, c => c.LastUserText == some).GenerationConfig!.ToJsonString());
    }

    [Theory]
    [InlineData(ParametersFixture.Ollama, false)]
    [InlineData(ParametersFixture.Ollama, true)]
    [InlineData(ParametersFixture.Gemini, false)]
    [InlineData(ParametersFixture.Gemini, true)]
    public async Task An_answer_cut_at_max_tokens_finishes_for_length(string model, bool streamed)
    {
        var prompt = Unique("a long answer please");

        var reply = await AskAsync(streamed, new { message = prompt, model, maxTokens = 12 });

        var full = (model == ParametersFixture.Gemini ? "gemini: " : "echo: ") + prompt;
        Assert.Equal(full[..12], Value<string>(reply["message"]));
        Assert.Equal("length", Value<string>(reply["finishReason"]));
        Assert.Equal(12, Value<int>(reply["outputTokens"]));
    }

    [Theory]
    [InlineData(ParametersFixture.Ollama)]
    [InlineData(ParametersFixture.Gemini)]
    public async Task A_stop_sequence_ends_the_answer_before_it_and_finishes_for_stop(string model)
    {
        var prompt = Unique("one two three four");

        var reply = await AskAsync(true, new { message = prompt, model, stop = new[] { " three" } });

        Assert.EndsWith(" two", Value<string>(reply["message"]));
        Assert.Equal("stop", Value<string>(reply["finishReason"]));
    }

    [Fact]
    public async Task An_answer_gemini_stops_for_safety_finishes_for_content_filter_with_what_was_written()
    {
        var prompt = Unique("something unsafe");
        fixture.GeminiServer.Behaviours[prompt] = new(GeminiFailure.Safety);

        var reply = await AskAsync(true, new { message = prompt, model = ParametersFixture.Gemini });

        Assert.Equal("content_filter", Value<string>(reply["finishReason"]));
        Assert.Equal("gemini: ", Value<string>(reply["message"]));
        Assert.Equal("gemini", Value<string>(reply["backendUsed"]));
    }

    [Fact]
    public async Task An_answer_gemini_withholds_whole_is_an_empty_reply_that_finishes_for_content_filter_not_a_fallback()
    {
        var prompt = Unique("something else unsafe");
        fixture.GeminiServer.Behaviours[prompt] = new(GeminiFailure.Safety);

        var reply = await AskAsync(false, new { message = prompt, model = ParametersFixture.Gemini });

        Assert.Equal("content_filter", Value<string>(reply["finishReason"]));
        Assert.Equal("", Value<string>(reply["message"]));
        Assert.Equal("gemini", Value<string>(reply["backendUsed"]));
        Assert.Equal(0, fixture.OllamaServer.CallsContaining(prompt));
    }

    [Theory]
    [InlineData(ParametersFixture.Ollama, false)]
    [InlineData(ParametersFixture.Ollama, true)]
    [InlineData(ParametersFixture.Gemini, false)]
    [InlineData(ParametersFixture.Gemini, true)]
    public async Task The_reply_says_why_the_model_stopped_and_how_many_tokens_each_side_took(string model, bool streamed)
    {
        var prompt = Unique("count my tokens");

        var reply = await AskAsync(streamed, new { message = prompt, model });

        Assert.Equal("stop", Value<string>(reply["finishReason"]));
        if (model == ParametersFixture.Gemini)
        {
            // What the loopback Gemini reports in usageMetadata.
            Assert.Equal(7, Value<int>(reply["inputTokens"]));
            Assert.Equal(5, Value<int>(reply["outputTokens"]));
        }
        else
        {
            // The loopback Ollama counts a character as a token: the prompt (the system prompt included) and the answer.
            var call = Assert.Single(fixture.OllamaServer.Calls, c => c.LastUserMessage == prompt);
            Assert.Equal(call.Messages.Sum(m => m.Content.Length), Value<int>(reply["inputTokens"]));
            Assert.Equal(("echo: " + prompt).Length, Value<int>(reply["outputTokens"]));
        }
    }

    [Theory]
    [InlineData("temperature", 3.0)]
    [InlineData("temperature", -0.5)]
    [InlineData("topP", 0.0)]
    [InlineData("topP", 1.5)]
    [InlineData("maxTokens", 0)]
    [InlineData("stop", 5)]
    [InlineData("stop", 0)]
    public async Task An_out_of_range_parameter_is_bad_user_input_naming_it_and_reaches_no_backend(string parameter, double value)
    {
        var prompt = Unique("out of range");
        var input = new Dictionary<string, object> { ["message"] = prompt, ["model"] = ParametersFixture.Ollama };
        input[parameter] = parameter switch
        {
            "maxTokens" => (int)value,
            // A number of sequences; none means one empty sequence.
            "stop" => value == 0 ? new[] { "" } : Enumerable.Range(0, (int)value).Select(i => $"s{i}").ToArray(),
            _ => value,
        };

        var result = await Gateway.PostAsync(Chat, new { input });

        ChatErrorTests.AssertError(result, "BAD_USER_INPUT", parameter);
        Assert.Equal(0, fixture.OllamaServer.CallsContaining(prompt));
    }

    [Fact]
    public async Task An_out_of_range_parameter_of_a_stream_is_bad_user_input_too()
    {
        var prompt = Unique("out of range streamed");

        using var request = GatewayHost.GraphQLPost(Stream, new { input = new { message = prompt, model = ParametersFixture.Gemini, temperature = 2.5 } },
            accept: "text/event-stream");
        using var response = await Gateway.SendUntracedAsync(request);
        var body = await response.Content.ReadAsStringAsync();

        Assert.Contains("BAD_USER_INPUT", body);
        Assert.Contains("temperature must be between 0 and 2", body);
        Assert.Equal(0, fixture.GeminiServer.CallsContaining(prompt));
    }

    [Fact]
    public async Task Parameters_are_part_of_the_cache_key()
    {
        var prompt = Unique("cache my parameters");
        object Input(double temperature) => new { message = prompt, model = ParametersFixture.Ollama, temperature, stop = new[] { "ZZZ" } };

        var first = await AskAsync(false, Input(0.5));
        var same = await AskAsync(false, Input(0.5));
        var other = await AskAsync(false, Input(0.6));
        var streamedSame = await AskAsync(true, Input(0.5));

        Assert.False(Value<bool>(first["cached"]));
        Assert.True(Value<bool>(same["cached"]));
        Assert.False(Value<bool>(other["cached"]));
        Assert.True(Value<bool>(streamedSame["cached"]));
        Assert.Equal(2, fixture.OllamaServer.CallsContaining(prompt));
        Assert.Equal([0.5, 0.6], fixture.OllamaServer.Calls.Where(c => c.LastUserMessage == prompt).Select(c => c.Options!["temperature"]!.GetValue<double>()).Order());
        // The cached reply says why the model stopped, as the first did.
        Assert.Equal("stop", Value<string>(same["finishReason"]));
    }

    [Fact]
    public async Task A_system_prompt_replaces_the_configured_one()
    {
        var own = Unique("own system");
        var configured = Unique("configured system");

        await AskAsync(false, new { message = own, model = ParametersFixture.Ollama, system = "Answer in haiku." });
        await AskAsync(false, new { message = configured, model = ParametersFixture.Ollama });

        Assert.Equal([new FakeMessage("system", "Answer in haiku."), new FakeMessage("user", own)],
            Assert.Single(fixture.OllamaServer.Calls, c => c.LastUserMessage == own).Messages);
        Assert.Equal([new FakeMessage("system", ParametersFixture.ConfiguredSystem), new FakeMessage("user", configured)],
            Assert.Single(fixture.OllamaServer.Calls, c => c.LastUserMessage == configured).Messages);
    }

    [Fact]
    public async Task Different_system_prompts_are_different_cache_entries()
    {
        var prompt = Unique("same message, other instructions");

        await AskAsync(false, new { message = prompt, model = ParametersFixture.Gemini, system = "Be terse." });
        var other = await AskAsync(false, new { message = prompt, model = ParametersFixture.Gemini, system = "Be verbose." });

        Assert.False(Value<bool>(other["cached"]));
        Assert.Equal(["Be terse.", "Be verbose."], fixture.GeminiServer.Calls.Where(c => c.LastUserText == prompt).Select(c => c.SystemInstruction).Order());
    }

    private async Task<Activity> BackendSpanAsync(string traceId, string name)
    {
        for (var i = 0; i < 100; i++)
        {
            if (Gateway.Spans.Snapshot().FirstOrDefault(s => s.TraceId.ToHexString() == traceId && s.DisplayName == name) is { } span)
                return span;
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException($"no {name} span was exported in trace {traceId}");
    }

    [Theory]
    [InlineData(ParametersFixture.Ollama, "ollama.generate")]
    [InlineData(ParametersFixture.Gemini, "gemini.generate")]
    public async Task The_backend_span_carries_the_request_parameters_and_the_finish_reason(string model, string span)
    {
        var reply = await AskAsync(false, new
        {
            message = Unique("trace my parameters"), model, temperature = 0.25, topP = 0.5, maxTokens = 10, stop = new[] { "ZZZ" }, seed = 11,
        });
        var plain = await AskAsync(false, new { message = Unique("trace no parameters"), model });

        var generate = await BackendSpanAsync(Value<string>(reply["traceId"]), span);
        Assert.Equal(0.25, generate.GetTagItem("gen_ai.request.temperature"));
        Assert.Equal(0.5, generate.GetTagItem("gen_ai.request.top_p"));
        Assert.Equal(10, generate.GetTagItem("gen_ai.request.max_tokens"));
        Assert.Equal(11L, generate.GetTagItem("gen_ai.request.seed"));
        Assert.Equal(["ZZZ"], Assert.IsType<string[]>(generate.GetTagItem("gen_ai.request.stop_sequences")));
        Assert.Equal(["length"], Assert.IsType<string[]>(generate.GetTagItem("gen_ai.response.finish_reasons")));

        var unset = await BackendSpanAsync(Value<string>(plain["traceId"]), span);
        Assert.DoesNotContain(unset.TagObjects, t => t.Key.StartsWith("gen_ai.request.", StringComparison.Ordinal)
                                                     && t.Key is not ("gen_ai.request.model" or "gen_ai.request.stream"));
        Assert.Equal(["stop"], Assert.IsType<string[]>(unset.GetTagItem("gen_ai.response.finish_reasons")));
    }
}
