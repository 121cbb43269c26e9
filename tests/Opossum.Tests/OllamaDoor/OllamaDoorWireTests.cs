using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Opossum.Tests.OllamaDoor;

/// <summary>The Ollama door's wire format as a client without a library sees it (curl): lines, fields, statuses, headers.</summary>
[Collection(OllamaDoorCollection.Name)]
public sealed class OllamaDoorWireTests(OllamaDoorGateway fixture)
{
    private static string Unique(string what) => $"wire {what} {Guid.NewGuid():N}";

    private static string Chat(string message, string extra = "", string model = OllamaDoorGateway.Model) =>
        $$"""{"model":"{{model}}","messages":[{"role":"user","content":"{{message}}"}]{{extra}}}""";

    [Fact]
    public async Task A_chat_streams_NDJSON_by_default_ending_with_a_done_line_that_has_the_counts()
    {
        var message = Unique("stream");

        using var response = await fixture.PostAsync("/api/chat", Chat(message));

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/x-ndjson", response.Content.Headers.ContentType?.MediaType);
        var lines = (await response.Content.ReadAsStringAsync()).Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.All(lines[..^1], line =>
        {
            Assert.False(line["done"]!.GetValue<bool>());
            Assert.Equal("assistant", line["message"]!["role"]!.GetValue<string>());
            Assert.Equal(OllamaDoorGateway.Model, line["model"]!.GetValue<string>());
            Assert.EndsWith("Z", line["created_at"]!.GetValue<string>());
            Assert.Null(line["eval_count"]);
        });
        Assert.Equal("echo: " + message, string.Concat(lines[..^1].Select(l => l["message"]!["content"]!.GetValue<string>())));
        var done = lines[^1];
        Assert.True(done["done"]!.GetValue<bool>());
        Assert.Equal("stop", done["done_reason"]!.GetValue<string>());
        Assert.Equal("", done["message"]!["content"]!.GetValue<string>());
        foreach (var field in new[] { "total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration" })
            Assert.True(done[field] is not null, field);
        Assert.Equal("miss", response.Headers.GetValues("x-opossum-cache").Single());
        Assert.Equal(OllamaDoorGateway.Model, response.Headers.GetValues("x-opossum-model").Single());
    }

    [Fact]
    public async Task Stream_false_answers_one_object_and_generate_answers_with_response()
    {
        var message = Unique("whole");

        using var chat = await fixture.PostAsync("/api/chat", Chat(message, ""","stream":false"""));
        using var generate = await fixture.PostAsync("/api/generate", $$"""{"model":"{{OllamaDoorGateway.Model}}","prompt":"{{message}} g","stream":false,"raw":true,"keep_alive":0}""");

        Assert.Equal("application/json", chat.Content.Headers.ContentType?.MediaType);
        var body = JsonNode.Parse(await chat.Content.ReadAsStringAsync())!;
        Assert.Equal("echo: " + message, body["message"]!["content"]!.GetValue<string>());
        Assert.True(body["done"]!.GetValue<bool>());
        var generated = JsonNode.Parse(await generate.Content.ReadAsStringAsync())!;
        Assert.Equal("echo: " + message + " g", generated["response"]!.GetValue<string>());
        Assert.Null(generated["message"]);
    }

    [Fact]
    public async Task Cache_Control_no_cache_generates_the_answer_again()
    {
        var message = Unique("no-cache");

        using var first = await fixture.PostAsync("/api/chat", Chat(message, ""","stream":false"""));
        using var second = await fixture.PostAsync("/api/chat", Chat(message, ""","stream":false"""), cacheControl: "no-cache");

        Assert.Equal("miss", second.Headers.GetValues("x-opossum-cache").Single());
        Assert.Equal(2, fixture.Ollama.CallsContaining(message));
    }

    [Theory]
    [InlineData("/api/chat", ""","format":"xml" """, "format")]
    [InlineData("/api/chat", ""","format":["json"]""", "format")]
    [InlineData("/api/chat", ""","format":{"type":"object","properties":{"a":{"type":"no-such-type"}}}""", "format")]
    [InlineData("/api/generate", ""","format":{"$ref":"#/$defs/missing"}""", "format")]
    [InlineData("/api/chat", ""","tools":[{"type":"function","function":{"name":"get weather"}}]""", "tools[0].function.name")]
    [InlineData("/api/chat", ""","tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"f"}}]""", "tools[1].function.name")]
    [InlineData("/api/chat", ""","tools":[{"type":"retrieval","function":{"name":"f"}}]""", "tools[0].type")]
    [InlineData("/api/chat", ""","tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"$ref":"#/$defs/a"}}}}}]""",
        "tools[0].function.parameters")]
    [InlineData("/api/chat", ""","options":{"top_p":0}""", "options.top_p")]
    [InlineData("/api/chat", ""","options":{"num_predict":0}""", "options.num_predict")]
    [InlineData("/api/generate", ""","suffix":"    return result" """, "suffix")]
    public async Task What_cannot_be_right_is_refused_with_400_naming_the_field(string path, string extra, string field)
    {
        var message = Unique("refused");
        var body = path == "/api/chat" ? Chat(message, extra, OllamaDoorGateway.ToolModel)
            : $$"""{"model":"{{OllamaDoorGateway.ToolModel}}","prompt":"{{message}}"{{extra}}}""";

        using var response = await fixture.PostAsync(path, body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.StartsWith(field + " ", JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
        Assert.Equal(0, fixture.Ollama.CallsContaining(message));
    }

    [Theory]
    [InlineData("""{"role":"tool","content":"11 degrees"}""", "messages[1]")]
    [InlineData("""{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}""",
        "messages[1].tool_calls[0].function.arguments")]
    [InlineData("""{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{}}}]},{"role":"tool","content":"sunny","tool_call_id":"call_9"}""",
        "messages[2].tool_call_id")]
    [InlineData("""{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{}}}]},{"role":"tool","content":"sunny","tool_name":"get_time"}""",
        "messages[2].tool_name")]
    [InlineData("""{"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{}}}]},{"role":"tool","content":"a"},{"role":"tool","content":"b"}""",
        "messages[3]")]
    public async Task A_tool_turn_that_answers_no_call_is_refused_with_400_naming_it(string turns, string field)
    {
        var message = Unique("tool turn");
        var body = $$"""{"model":"{{OllamaDoorGateway.ToolModel}}","messages":[{"role":"user","content":"{{message}}"},{{turns}}]}""";

        using var response = await fixture.PostAsync("/api/chat", body);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.StartsWith(field + " ", JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
        Assert.Equal(0, fixture.Ollama.CallsContaining(message));
    }

    [Fact]
    public async Task Tool_results_without_ids_or_names_answer_the_calls_in_order_and_the_same_history_hits_the_cache()
    {
        var message = Unique("history");
        var body = $$"""
            {"model":"{{OllamaDoorGateway.ToolModel}}","stream":false,
             "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"} } } } },
                      {"type":"function","function":{"name":"get_time"} }],
             "messages":[{"role":"user","content":"{{message}}"},
               {"role":"assistant","content":"","tool_calls":[{"function":{"name":"get_weather","arguments":{"city":"Paris"} } },{"function":{"name":"get_time","arguments":{} } }]},
               {"role":"tool","content":"sunny"},{"role":"tool","content":"noon"}]}
            """;

        using var first = await fixture.PostAsync("/api/chat", body);
        using var second = await fixture.PostAsync("/api/chat", body);

        Assert.True(first.StatusCode == HttpStatusCode.OK, await first.Content.ReadAsStringAsync());
        Assert.Equal("echo: noon", JsonNode.Parse(await first.Content.ReadAsStringAsync())!["message"]!["content"]!.GetValue<string>());
        var call = Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == message);
        Assert.Equal([("tool", "get_weather", "sunny"), ("tool", "get_time", "noon")],
            call.Messages.Skip(2).Select(m => (m.Role, m.ToolName, m.Content)));
        Assert.Equal(["get_weather", "get_time"], call.Messages[1].ToolCalls!.Select(c => c!["function"]!["name"]!.GetValue<string>()));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse("""{"city":"Paris"}"""), call.Messages[1].ToolCalls![0]!["function"]!["arguments"]));
        Assert.Equal("hit", second.Headers.GetValues("x-opossum-cache").Single());
    }

    [Fact]
    public async Task A_model_without_tools_or_schemas_is_not_asked_with_them()
    {
        var message = Unique("no tools");

        using var tools = await fixture.PostAsync("/api/chat", Chat(message, ""","tools":[{"type":"function","function":{"name":"f"}}]"""));
        using var format = await fixture.PostAsync("/api/chat", Chat(message, ""","format":"json" """));

        Assert.Equal(HttpStatusCode.BadRequest, tools.StatusCode);
        Assert.Contains("tools", JsonNode.Parse(await tools.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.BadRequest, format.StatusCode);
        Assert.Contains("schema", JsonNode.Parse(await format.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
        Assert.Equal(0, fixture.Ollama.CallsContaining(message));
    }

    [Fact]
    public async Task Refusals_before_the_pipeline_carry_the_trace_id_and_Ollamas_error_body()
    {
        using var noKey = await fixture.PostAsync("/api/chat", Chat("hello"), key: null);
        using var notJson = await fixture.PostAsync("/api/chat", "{not json");
        using var delete = await fixture.Gateway.SendUntracedAsync(new HttpRequestMessage(HttpMethod.Delete, "/api/delete")
        {
            Content = new StringContent("""{"model":"gemma3:1b"}"""),
            Headers = { Authorization = new("Bearer", OllamaDoorGateway.RawKey) },
        });

        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);
        Assert.Equal("Bearer", noKey.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal(HttpStatusCode.BadRequest, notJson.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, delete.StatusCode);
        foreach (var response in new[] { noKey, notJson, delete })
        {
            Assert.Matches("^[0-9a-f]{32}$", response.Headers.GetValues("x-opossum-trace-id").Single());
            Assert.NotEmpty(JsonNode.Parse(await response.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
        }
    }

    [Fact]
    public async Task A_request_without_messages_loads_nothing_and_answers_done_reason_load()
    {
        using var load = await fixture.PostAsync("/api/chat", $$"""{"model":"{{OllamaDoorGateway.Model}}","messages":[]}""");
        using var unknown = await fixture.PostAsync("/api/generate", """{"model":"no-such-model"}""");

        Assert.Equal("load", JsonNode.Parse(await load.Content.ReadAsStringAsync())!["done_reason"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("model 'no-such-model' not found", JsonNode.Parse(await unknown.Content.ReadAsStringAsync())!["error"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_body_declared_over_the_limit_is_refused_with_413_before_it_is_sent()
    {
        // Over a plain socket: the answer comes while most of the announced body is still unsent.
        var address = fixture.Gateway.Http.BaseAddress!;
        using var client = new TcpClient();
        await client.ConnectAsync(address.Host, address.Port);
        var stream = client.GetStream();
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"POST /api/chat HTTP/1.1\r\nHost: {address.Authority}\r\n"
            + $"Authorization: Bearer {OllamaDoorGateway.RawKey}\r\nContent-Length: 100000000\r\n\r\n{{\"model\":\"{OllamaDoorGateway.Model}\""));

        using var reader = new StreamReader(stream, Encoding.UTF8);
        var status = (await reader.ReadLineAsync())!.Split(' ')[1];
        var headers = new List<string>();
        for (var line = await reader.ReadLineAsync(); !string.IsNullOrEmpty(line); line = await reader.ReadLineAsync())
            headers.Add(line);
        var length = int.Parse(headers.Single(h => h.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))[15..].Trim());
        var body = new char[length];
        for (var read = 0; read < length;)
            read += await reader.ReadAsync(body, read, length - read);

        Assert.Equal("413", status);
        Assert.Contains(headers, h => h.StartsWith("x-opossum-trace-id:", StringComparison.OrdinalIgnoreCase));
        Assert.Contains("MaxRequestBytes", JsonNode.Parse(new string(body))!["error"]!.GetValue<string>());
    }
}
