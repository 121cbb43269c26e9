using System.Net;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;

namespace Opossum.Tests.OpenAI;

/// <summary>The OpenAI door over raw HTTP: what no official client sends on purpose but a user or tool may, and the headers every answer carries.</summary>
[Collection(OpenAICollection.Name)]
public sealed class OpenAIWireTests(OpenAIGateway fixture)
{
    private static string Unique(string what) => $"wire {what} {Guid.NewGuid():N}";

    private static object Chat(string prompt, object? extra = null)
    {
        var body = new JsonObject { ["model"] = OpenAIGateway.Model, ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = prompt }) };
        foreach (var (name, value) in JsonNode.Parse(System.Text.Json.JsonSerializer.Serialize(extra ?? new { }))!.AsObject())
            body[name] = value?.DeepClone();
        return body.ToJsonString();
    }

    [Fact]
    public async Task Without_a_key_the_answer_is_401_with_the_Bearer_challenge_OpenAIs_error_and_a_trace_id()
    {
        var (response, body) = await fixture.PostAsync(Chat("hello"), key: null);

        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("Bearer realm=\"opossum\"", response.Headers.WwwAuthenticate.ToString());
        Assert.Matches("^[0-9a-f]{32}$", response.Headers.GetValues("x-opossum-trace-id").Single());
        var error = OpenAIGateway.Error(body);
        Assert.Equal(("authentication_error", "invalid_api_key"), (error["type"]!.GetValue<string>(), error["code"]!.GetValue<string>()));
        Assert.Contains("Authorization: Bearer", error["message"]!.GetValue<string>());
        Assert.True(error.AsObject().ContainsKey("param"));
    }

    [Theory]
    [InlineData("""{"model": "gemma3:1b", "messages": [""", null, "not valid JSON")]
    [InlineData("""{"model": "gemma3:1b", "messages": [{"role": "user", "content": "hi"}], "temperature": "hot"}""", "temperature", "wrong type")]
    [InlineData("""{"model": "gemma3:1b", "messages": [{"role": "user", "content": "hi"}], "n": 2}""", "n", "must be 1")]
    [InlineData("""{"model": "gemma3:1b", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 0}""", "max_tokens", "at least 1")]
    [InlineData("""{"model": "gemma3:1b", "messages": [{"role": "user", "content": "hi"}], "stop": ["a", "b", "c", "d", "e"]}""", "stop", "at most 4")]
    [InlineData("""{"model": "gemma3:1b", "messages": [{"role": "assistant", "content": "hi"}]}""", "messages", "must be the user's")]
    [InlineData("""{"model": "gemma3:1b", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", "function": {"name": "f"}}]}""", "model", "does not take tools")]
    public async Task A_request_the_door_cannot_answer_is_400_naming_the_param(string body, string? param, string says) =>
        await RefusedBeforeAnyBackendCall(body, param, says);

    [Theory]
    [InlineData("""{"tools": {"type": "function"}}""", "tools", "list of functions")]
    [InlineData("""{"tools": [{"type": "custom", "custom": {"name": "f"}}]}""", "tools[0].type", "functions only")]
    [InlineData("""{"tools": [{"type": "function"}]}""", "tools[0].function", "is required")]
    [InlineData("""{"tools": [{"type": "function", "function": {"name": "look up"}}]}""", "tools[0].function.name", "1 to 64")]
    [InlineData("""{"tools": [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "f"}}]}""", "tools[1].function.name", "twice")]
    [InlineData("""{"tools": [{"type": "function", "function": {"name": "f", "parameters": "object"}}]}""", "tools[0].function.parameters", "JSON Schema")]
    [InlineData("""{"tools": [{"type": "function", "function": {"name": "f", "parameters": {"$ref": "#/$defs/city"}}}]}""", "tools[0].function.parameters", "$defs/city")]
    [InlineData("""{"tools": [{"type": "function", "function": {"name": "f", "strict": "yes"}}]}""", "tools[0].function.strict", "true or false")]
    [InlineData("""{"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "always"}""", "tool_choice", "'required'")]
    [InlineData("""{"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}}}""", "tool_choice.function.name", "not among the tools")]
    [InlineData("""{"tool_choice": "required"}""", "tool_choice", "needs tools")]
    [InlineData("""{"functions": [{"name": "f"}]}""", "functions", "send tools")]
    [InlineData("""{"response_format": {"type": "xml"}}""", "response_format.type", "json_schema")]
    [InlineData("""{"response_format": {"type": "json_schema"}}""", "response_format.json_schema", "is required")]
    [InlineData("""{"response_format": {"type": "json_schema", "json_schema": {"schema": {"type": "object"}}}}""", "response_format.json_schema.name", "is required")]
    [InlineData("""{"response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": {"$ref": "https://example.com/s.json"}}}}""", "response_format.json_schema.schema", "nothing is fetched")]
    public async Task A_malformed_tool_or_format_is_400_naming_the_param(string extra, string param, string says)
    {
        var body = JsonNode.Parse(extra)!.AsObject();
        body["model"] = OpenAIGateway.ToolModel;
        body["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "hi" });

        await RefusedBeforeAnyBackendCall(body.ToJsonString(), param, says);
    }

    [Theory]
    [InlineData("""[{"role": "tool", "content": "42"}, {"role": "user", "content": "hi"}]""", "messages[0].tool_call_id", "is required")]
    [InlineData("""[{"role": "user", "content": "hi"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}, {"role": "tool", "tool_call_id": "c2", "content": "42"}]""", "messages[2].tool_call_id", "'c2'")]
    [InlineData("""[{"role": "tool", "tool_call_id": "c1", "content": "42"}, {"role": "assistant", "content": null, "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]}]""", "messages[0].tool_call_id", "earlier assistant message")]
    [InlineData("""[{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{city"}}]}]""", "messages[1].tool_calls[0].function.arguments", "JSON object")]
    [InlineData("""[{"role": "user", "content": "hi"}, {"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{}"}}]}]""", "messages[1].tool_calls[0].id", "is required")]
    [InlineData("""[{"role": "user", "content": "hi", "tool_calls": []}]""", "messages[0].tool_calls", "only assistant")]
    [InlineData("""[{"role": "function", "name": "f", "content": "42"}]""", "messages[0].role", "'tool' messages")]
    public async Task A_malformed_tool_call_or_result_is_400_naming_the_param(string messages, string param, string says) =>
        await RefusedBeforeAnyBackendCall($$"""{"model": "{{OpenAIGateway.ToolModel}}", "messages": {{messages}}}""", param, says);

    private async Task RefusedBeforeAnyBackendCall(string body, string? param, string says)
    {
        var calls = (fixture.Ollama.Calls.Count, fixture.Gemini.Calls.Count);

        var (response, text) = await fixture.PostAsync(body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var error = OpenAIGateway.Error(text);
        Assert.Equal("invalid_request_error", error["type"]!.GetValue<string>());
        Assert.Equal(param, error["param"]?.GetValue<string>());
        Assert.Contains(says, error["message"]!.GetValue<string>());
        Assert.Equal(calls, (fixture.Ollama.Calls.Count, fixture.Gemini.Calls.Count));
    }

    [Fact]
    public async Task A_streamed_tool_call_asked_twice_replays_the_same_fragments_from_the_cache()
    {
        var prompt = Unique("cached tool calls");
        fixture.Ollama.ToolArguments["find_train"] = """{"from":"Oslo","to":"Bergen"}""";
        var body = Chat(prompt, new
        {
            model = OpenAIGateway.ToolModel,
            stream = true,
            tools = new[] { Function("find_train"), Function("find_ferry") },
        });

        fixture.Ollama.ToolCallsPerAnswer = 2;
        List<string> first, second;
        HttpResponseMessage fresh, cached;
        try
        {
            (fresh, var freshBody) = await fixture.PostAsync(body);
            (cached, var cachedBody) = await fixture.PostAsync(body);
            (first, second) = (Deltas(freshBody), Deltas(cachedBody));
        }
        finally
        {
            fixture.Ollama.ToolCallsPerAnswer = 1;
        }

        Assert.Equal(["miss", "hit"], new[] { fresh, cached }.Select(r => r.Headers.GetValues("x-opossum-cache").Single()));
        Assert.Equal(1, fixture.Ollama.CallsContaining(prompt));
        Assert.Equal(first, second);
        var fragments = first.Select(d => JsonNode.Parse(d)!["delta"]!["tool_calls"]?[0]).OfType<JsonNode>().ToList();
        Assert.Equal(fragments.Count + 1, first.Count); // the fragments, then the finish reason
        Assert.Equal([0, 0, 1, 1], fragments.Select(f => f["index"]!.GetValue<int>()));
        Assert.Equal(["find_train", null, "find_ferry", null], fragments.Select(f => f["function"]!["name"]?.GetValue<string>()));
        Assert.Equal(["", """{"from":"Oslo","to":"Bergen"}""", "", "{}"], fragments.Select(f => f["function"]!["arguments"]!.GetValue<string>()));
        Assert.Equal(2, fragments.Select(f => f["id"]?.GetValue<string>()).OfType<string>().Distinct().Count());
        Assert.Equal("tool_calls", JsonNode.Parse(first[^1])!["finish_reason"]!.GetValue<string>());
    }

    [Fact]
    public async Task Tool_choice_names_the_function_the_model_must_call_or_forbids_calls()
    {
        var chosen = Unique("chosen function");
        var none = Unique("no calls");
        var tools = new[] { Function("find_train"), Function("find_ferry") };

        var (_, called) = await fixture.PostAsync(Chat(chosen, new
        {
            model = OpenAIGateway.GeminiModel, tools, tool_choice = new { type = "function", function = new { name = "find_ferry" } },
        }));
        var (_, answered) = await fixture.PostAsync(Chat(none, new { model = OpenAIGateway.GeminiModel, tools, tool_choice = "none" }));

        var call = Assert.Single(JsonNode.Parse(called)!["choices"]![0]!["message"]!["tool_calls"]!.AsArray())!;
        Assert.Equal("find_ferry", call["function"]!["name"]!.GetValue<string>());
        var choice = JsonNode.Parse(answered)!["choices"]![0]!;
        Assert.Equal(("stop", "gemini: " + none), (choice["finish_reason"]!.GetValue<string>(), choice["message"]!["content"]!.GetValue<string>()));
        Assert.Null(choice["message"]!["tool_calls"]);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_strict_schema_answered_off_the_schema_is_502_invalid_model_output_without_the_answer(bool stream)
    {
        var prompt = Unique("off schema");
        const string offSchema = """{"town":"Tromso-off-schema"}""";
        fixture.Ollama.JsonAnswers[prompt] = offSchema;
        fixture.Gemini.JsonAnswers[prompt] = offSchema;

        var (response, body) = await fixture.PostAsync(Chat(prompt, new { model = OpenAIGateway.ToolModel, stream, response_format = Place(strict: true) }));

        Assert.Equal(HttpStatusCode.BadGateway, response.StatusCode);
        var error = OpenAIGateway.Error(body);
        Assert.Equal(("server_error", "invalid_model_output"), (error["type"]!.GetValue<string>(), error["code"]!.GetValue<string>()));
        Assert.DoesNotContain("Tromso-off-schema", body);
        // Every model that takes schemas was asked, and none answered on the schema.
        Assert.Equal((1, 1), (fixture.Ollama.CallsContaining(prompt), fixture.Gemini.CallsContaining(prompt)));
    }

    [Fact]
    public async Task A_schema_that_is_not_strict_and_JSON_mode_reach_the_backend_as_its_format_and_the_answer_is_given_as_written()
    {
        var schema = Unique("loose schema");
        var json = Unique("json mode");
        fixture.Ollama.JsonAnswers[schema] = """{"town":"Tromso"}""";

        var (loose, looseBody) = await fixture.PostAsync(Chat(schema, new { model = OpenAIGateway.ToolModel, response_format = Place(strict: false) }));
        var (mode, modeBody) = await fixture.PostAsync(Chat(json, new { model = OpenAIGateway.ToolModel, response_format = new { type = "json_object" } }));

        Assert.Equal((HttpStatusCode.OK, HttpStatusCode.OK), (loose.StatusCode, mode.StatusCode));
        Assert.Equal("""{"town":"Tromso"}""", Content(looseBody));
        Assert.Equal("city", Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == schema).Format!["required"]![0]!.GetValue<string>());
        Assert.Equal("json", Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == json).Format!.GetValue<string>());
        Assert.Equal(json, JsonNode.Parse(Content(modeBody))!["echo"]!.GetValue<string>());
    }

    private static object Function(string name) => new
    {
        type = "function",
        function = new { name, parameters = new { type = "object", properties = new { from = new { type = "string" }, to = new { type = "string" } } } },
    };

    private static object Place(bool strict) => new
    {
        type = "json_schema",
        json_schema = new
        {
            name = "place", strict,
            schema = new { type = "object", properties = new { city = new { type = "string" } }, required = new[] { "city" }, additionalProperties = false },
        },
    };

    private static string Content(string completion) => JsonNode.Parse(completion)!["choices"]![0]!["message"]!["content"]!.GetValue<string>();

    // The choice (delta and finish reason) of each event with a piece of a tool call or the finish reason, as JSON text: what
    // differs between two answers is their id and time, not these. (Text from the cache comes in one piece, not as it was written.)
    private static List<string> Deltas(string events) => events.Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
        .Select(e => e["data: ".Length..])
        .Where(d => d != "[DONE]")
        .Select(d => JsonNode.Parse(d)!["choices"]!.AsArray().SingleOrDefault())
        .Where(c => c?["delta"]?["tool_calls"] is not null || c?["finish_reason"] is not null)
        .Select(c => c!.ToJsonString())
        .ToList();

    [Fact]
    public async Task Unknown_fields_are_ignored_and_response_format_text_is_accepted()
    {
        var prompt = Unique("extras");

        var (response, body) = await fixture.PostAsync(Chat(prompt, new { response_format = new { type = "text" }, user = "u-1", metadata = new { a = "b" }, n = 1 }));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("echo: " + prompt, JsonNode.Parse(body)!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
    }

    [Fact]
    public async Task Cache_Control_no_cache_bypasses_the_cache_and_the_answer_carries_the_gateway_headers()
    {
        var prompt = Unique("no-cache");

        var (first, _) = await fixture.PostAsync(Chat(prompt));
        var (hit, _) = await fixture.PostAsync(Chat(prompt));
        var (bypassed, _) = await fixture.PostAsync(Chat(prompt), adjust: r => r.Headers.CacheControl = new() { NoCache = true });

        Assert.Equal(["miss", "hit", "miss"], new[] { first, hit, bypassed }.Select(r => r.Headers.GetValues("x-opossum-cache").Single()));
        Assert.Equal(2, fixture.Ollama.CallsContaining(prompt));
        Assert.Equal(OpenAIGateway.Model, first.Headers.GetValues("x-opossum-model").Single());
        Assert.Matches(@"^gateway;dur=\d+\.\d, backend;dur=\d+\.\d$", first.Headers.GetValues("Server-Timing").Single());
        Assert.Equal("application/json; charset=utf-8", first.Content.Headers.ContentType!.ToString());
    }

    [Fact]
    public async Task Models_lists_the_catalog_and_names_one_model_or_says_404()
    {
        using var list = new HttpRequestMessage(HttpMethod.Get, "/v1/models") { Headers = { Authorization = new("Bearer", OpenAIGateway.Key) } };
        using var one = new HttpRequestMessage(HttpMethod.Get, "/v1/models/gemma3:1b") { Headers = { Authorization = new("Bearer", OpenAIGateway.Key) } };
        using var none = new HttpRequestMessage(HttpMethod.Get, "/v1/models/no-such-model") { Headers = { Authorization = new("Bearer", OpenAIGateway.Key) } };

        var models = JsonNode.Parse(await (await fixture.Gateway.SendUntracedAsync(list)).Content.ReadAsStringAsync())!;
        var model = JsonNode.Parse(await (await fixture.Gateway.SendUntracedAsync(one)).Content.ReadAsStringAsync())!;
        var missing = await fixture.Gateway.SendUntracedAsync(none);

        Assert.Equal("list", models["object"]!.GetValue<string>());
        Assert.Equal(OpenAIGateway.Models, models["data"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()));
        Assert.Equal(model.ToJsonString(), models["data"]![0]!.ToJsonString());
        Assert.Equal(("gemma3:1b", "model", "ollama"), (model["id"]!.GetValue<string>(), model["object"]!.GetValue<string>(), model["owned_by"]!.GetValue<string>()));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        Assert.Equal("model_not_found", OpenAIGateway.Error(await missing.Content.ReadAsStringAsync())["code"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_body_that_is_not_JSON_is_415_and_a_chat_is_traced_under_a_server_span_named_for_the_route()
    {
        var prompt = Unique("span");
        using var form = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new FormUrlEncodedContent([new("model", OpenAIGateway.Model)]),
            Headers = { Authorization = new("Bearer", OpenAIGateway.Key) },
        };

        var refused = await fixture.Gateway.SendUntracedAsync(form);
        var (response, _) = await fixture.PostAsync(Chat(prompt));

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, refused.StatusCode);
        Assert.Equal("invalid_request_error", OpenAIGateway.Error(await refused.Content.ReadAsStringAsync())["type"]!.GetValue<string>());
        var traceId = response.Headers.GetValues("x-opossum-trace-id").Single();
        fixture.Gateway.FlushTelemetry();
        var server = Assert.Single(fixture.Gateway.Spans.Snapshot(), s => s.TraceId.ToHexString() == traceId && s.Parent is null && s.ParentSpanId == default);
        Assert.Equal("POST /v1/chat/completions", server.DisplayName);
        Assert.Equal(System.Diagnostics.ActivityKind.Server, server.Kind);
    }
}
