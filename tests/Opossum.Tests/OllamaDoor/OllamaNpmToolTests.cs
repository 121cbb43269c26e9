using System.Text.Json.Nodes;

namespace Opossum.Tests.OllamaDoor;

/// <summary>
/// Tools and structured output through the Ollama door with the official <c>ollama</c> npm client, unmodified: the scenarios of
/// <see cref="OllamaNpmRun"/>'s one run of the script, asserted on what the client saw and on what the loopback Ollama was asked.
/// </summary>
[Collection(OllamaDoorCollection.Name)]
public sealed class OllamaNpmToolTests(OllamaDoorGateway fixture)
{
    private async Task<JsonNode> ScenarioAsync(string name) => (await OllamaNpmRun.ResultsAsync(fixture))[name];

    private static string? Text(JsonNode? node) => node?.GetValue<string>();

    private static readonly JsonNode Reading = JsonNode.Parse("""
        {"type":"object","properties":{"city":{"type":"string"},"degrees":{"type":"integer"}},"required":["city","degrees"]}
        """)!;

    private static string Answer => $"echo: {OllamaNpmRun.ToolResult} in Tokyo";

    /// <summary>The one call of a first step: to get_weather with the backend's arguments, as an object, with an id.</summary>
    private static void AssertWeatherCall(JsonNode? calls)
    {
        var call = Assert.Single(calls!.AsArray())!;
        Assert.Equal("get_weather", Text(call["function"]!["name"]));
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(OllamaNpmRun.Arguments), call["function"]!["arguments"]), call.ToJsonString());
        Assert.Equal(0, call["function"]!["index"]!.GetValue<int>());
        Assert.False(string.IsNullOrEmpty(Text(call["id"])), call.ToJsonString());
    }

    /// <summary>The backend saw the result come back: a tool message after the call, named for its function, and the tool offered again.</summary>
    private void AssertResultReachedTheBackend(string prompt)
    {
        var calls = fixture.Ollama.Calls.Where(c => c.LastUserMessage == prompt).ToList();
        Assert.Equal(2, calls.Count);
        Assert.All(calls, c => Assert.Equal(["get_weather"], c.Tools!.Select(t => Text(t!["function"]!["name"]))));
        var second = calls.Single(c => c.Messages[^1].Role == "tool");
        Assert.Equal($"{OllamaNpmRun.ToolResult} in Tokyo", second.Messages[^1].Content);
        Assert.Equal("get_weather", second.Messages[^1].ToolName);
        Assert.Equal("get_weather", Text(second.Messages[^2].ToolCalls!.Single()!["function"]!["name"]));
    }

    [Fact]
    public async Task A_tool_loop_calls_the_function_and_answers_from_its_result()
    {
        var loop = await ScenarioAsync("toolLoop");

        Assert.True(loop["error"] is null, loop.ToJsonString());
        var steps = loop["steps"]!.AsArray();
        Assert.Equal(2, steps.Count);
        AssertWeatherCall(steps[0]!["toolCalls"]);
        Assert.Equal("", Text(steps[0]!["content"]));
        Assert.Equal("stop", Text(steps[0]!["lines"]![0]!["doneReason"])); // as Ollama says it after tool calls
        Assert.Equal(Answer, Text(steps[1]!["content"]));
        Assert.Null(steps[1]!["toolCalls"]);
        AssertResultReachedTheBackend(OllamaNpmRun.Tool);
        Assert.Equal(["miss", "miss"], loop["responses"]!.AsArray().Select(r => Text(r!["cache"])));
    }

    [Fact]
    public async Task A_streamed_tool_loop_gets_the_call_in_a_line_before_the_done_line()
    {
        var loop = await ScenarioAsync("toolLoopStream");

        Assert.True(loop["error"] is null, loop.ToJsonString());
        var steps = loop["steps"]!.AsArray();
        var first = steps[0]!["lines"]!.AsArray();
        Assert.Equal(2, first.Count);
        AssertWeatherCall(first[0]!["toolCalls"]);
        Assert.Equal("", Text(first[0]!["content"]));
        Assert.False(first[0]!["done"]!.GetValue<bool>());
        Assert.True(first[1]!["done"]!.GetValue<bool>());
        Assert.Null(first[1]!["toolCalls"]);
        Assert.Equal("stop", Text(first[1]!["doneReason"]));
        var second = steps[1]!["lines"]!.AsArray();
        Assert.True(second.Count >= 3, $"{second.Count} lines");
        Assert.Equal(Answer, Text(steps[1]!["content"]));
        AssertResultReachedTheBackend(OllamaNpmRun.ToolStream);
    }

    [Fact]
    public async Task A_streamed_tool_call_asked_again_streams_the_same_lines_from_the_cache()
    {
        var cached = await ScenarioAsync("toolCached");

        Assert.True(cached["error"] is null, cached.ToJsonString());
        var runs = cached["runs"]!.AsArray();
        AssertWeatherCall(runs[0]![0]!["toolCalls"]);
        Assert.True(JsonNode.DeepEquals(runs[0], runs[1]), $"{runs[0]!.ToJsonString()}\n{runs[1]!.ToJsonString()}");
        Assert.Equal(["miss", "hit"], cached["responses"]!.AsArray().Select(r => Text(r!["cache"])));
        Assert.Equal(1, fixture.Ollama.CallsContaining(OllamaNpmRun.ToolCached));
    }

    [Fact]
    public async Task A_format_schema_reaches_the_backend_and_the_client_parses_the_answer()
    {
        var schema = await ScenarioAsync("schema");

        Assert.True(schema["error"] is null, schema.ToJsonString());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(OllamaNpmRun.Reading), schema["parsed"]), schema.ToJsonString());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(OllamaNpmRun.Reading), schema["streamed"]), schema.ToJsonString());
        var calls = fixture.Ollama.Calls.Where(c => c.LastUserMessage.StartsWith(OllamaNpmRun.Schema, StringComparison.Ordinal)).ToList();
        Assert.Equal(2, calls.Count);
        Assert.All(calls, c => Assert.True(JsonNode.DeepEquals(Reading, c.Format), c.Format?.ToJsonString()));
    }

    [Fact]
    public async Task An_answer_off_the_schema_is_an_error_never_the_content()
    {
        var whole = await ScenarioAsync("offSchema");
        var streamed = await ScenarioAsync("offSchemaStream");

        Assert.Null(whole["content"]);
        Assert.Equal(502, whole["error"]!["status"]!.GetValue<int>());
        Assert.Contains("degrees", Text(whole["error"]!["message"]));
        Assert.NotNull(streamed["error"]);
        Assert.DoesNotContain("eleven", string.Concat(streamed["parts"]!.AsArray().Select(Text)));
        Assert.True(fixture.Ollama.CallsContaining(OllamaNpmRun.OffSchema) >= 2);
    }

    [Fact]
    public async Task Format_json_asks_the_backend_for_JSON_mode()
    {
        var json = await ScenarioAsync("jsonMode");

        Assert.True(json["error"] is null, json.ToJsonString());
        Assert.Equal(OllamaNpmRun.JsonMode, Text(json["parsed"]!["echo"]));
        var call = Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == OllamaNpmRun.JsonMode);
        Assert.Equal("json", Text(call.Format));
        Assert.Null(call.Tools);
    }

    [Fact]
    public async Task Generate_takes_a_format_schema_and_json()
    {
        var generate = await ScenarioAsync("generateSchema");

        Assert.True(generate["error"] is null, generate.ToJsonString());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(OllamaNpmRun.Reading), generate["parsed"]), generate.ToJsonString());
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(OllamaNpmRun.Reading), generate["streamed"]), generate.ToJsonString());
        var calls = fixture.Ollama.Calls.Where(c => c.LastUserMessage.StartsWith(OllamaNpmRun.GenerateSchema, StringComparison.Ordinal)).ToList();
        Assert.True(JsonNode.DeepEquals(Reading, calls.Single(c => c.LastUserMessage == OllamaNpmRun.GenerateSchema).Format));
        Assert.Equal("json", Text(calls.Single(c => c.LastUserMessage != OllamaNpmRun.GenerateSchema).Format));
    }

    [Fact]
    public async Task A_bad_schema_or_tool_is_refused_with_400_naming_the_field_before_any_backend_call()
    {
        var badFormat = await ScenarioAsync("badFormat");
        var badTool = await ScenarioAsync("badTool");

        Assert.Equal(400, badFormat["error"]!["status"]!.GetValue<int>());
        Assert.StartsWith("format ", Text(badFormat["error"]!["message"]));
        Assert.Equal(400, badTool["error"]!["status"]!.GetValue<int>());
        Assert.StartsWith("tools[0].function.name ", Text(badTool["error"]!["message"]));
        Assert.Equal(0, fixture.Ollama.CallsContaining(OllamaNpmRun.Refused));
    }

    [Fact]
    public async Task Show_lists_tools_among_the_capabilities_of_a_model_that_takes_them()
    {
        var show = await ScenarioAsync("toolModel");

        Assert.Equal(["completion", "tools"], show["capabilities"]!.AsArray().Select(Text));
    }
}
