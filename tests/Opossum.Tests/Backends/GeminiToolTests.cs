using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Opossum.Grains;
using Opossum.Grains.Backends.Gemini;
using Opossum.Testing.Backends;
using static Opossum.Tests.Backends.Generations;

namespace Opossum.Tests.Backends;

/// <summary>Tools and structured output through the Gemini backend to a loopback server speaking Gemini's REST format.</summary>
public sealed class GeminiToolTests : IAsyncLifetime
{
    private FakeGemini _gemini = null!;
    private GeminiBackend _backend = null!;
    private readonly HttpClient _http = new();

    public async Task InitializeAsync()
    {
        _gemini = await FakeGemini.StartAsync();
        _backend = new GeminiBackend(_http, Options.Create(new GeminiOptions { BaseUrl = _gemini.BaseUrl, ApiKey = FakeGemini.ApiKey }));
    }

    public async Task DisposeAsync()
    {
        await _gemini.DisposeAsync();
        _http.Dispose();
    }

    private Task<List<GenerationChunk>> GenerateAsync(bool stream, GenerationOptions? options, params ChatMessage[] messages) =>
        RunAsync(_backend, "gemini-2.5-flash", stream, options, messages);

    private GeminiCall CallWith(string prompt) => Assert.Single(_gemini.Calls, c => c.LastUserText == prompt);

    [Fact]
    public async Task Tools_reach_gemini_as_function_declarations_with_their_json_schema_as_it_is()
    {
        var chunks = await GenerateAsync(false, new GenerationOptions(Tools: [Weather, Time]), new ChatMessage("user", "weather in Paris?"));

        var call = Assert.Single(_gemini.Calls);
        Assert.Equal(
            """[{"functionDeclarations":[{"name":"get_weather","description":"The weather in a city","parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},"""
            + """{"name":"get_time","parametersJsonSchema":{"type":"object","properties":{}}}]}]""",
            call.Tools!.ToJsonString());
        Assert.Null(call.ToolConfig); // no tool choice: Gemini's default, AUTO
        Assert.Null(call.GenerationConfig);
        Assert.Equal("get_weather", Assert.Single(chunks.Completed().ToolCalls!).Name);
    }

    [Theory]
    [InlineData(ToolChoice.Modes.Auto, null, """{"functionCallingConfig":{"mode":"AUTO"}}""")]
    [InlineData(ToolChoice.Modes.None, null, """{"functionCallingConfig":{"mode":"NONE"}}""")]
    [InlineData(ToolChoice.Modes.Required, null, """{"functionCallingConfig":{"mode":"ANY"}}""")]
    [InlineData(ToolChoice.Modes.Function, "get_time", """{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_time"]}}""")]
    public async Task The_tool_choice_becomes_the_function_calling_config(string mode, string? function, string expected)
    {
        var chunks = await GenerateAsync(false, new GenerationOptions(Tools: [Weather, Time], ToolChoice: new(mode, function)), new ChatMessage("user", mode));

        Assert.Equal(expected, CallWith(mode).ToolConfig!.ToJsonString());
        var generation = chunks.Completed();
        if (mode == ToolChoice.Modes.None)
        {
            Assert.Equal("gemini: none", generation.Content);
            Assert.Null(generation.ToolCalls);
        }
        else
            Assert.Equal(function ?? "get_weather", Assert.Single(generation.ToolCalls!).Name);
    }

    [Fact]
    public async Task A_whole_answer_gives_its_calls_with_arguments_as_json_text_generated_ids_and_finish_reason_tool_calls()
    {
        _gemini.ToolArguments["get_weather"] = """{"city":"Lima"}""";
        _gemini.ToolCallsPerAnswer = 2;

        var generation = (await GenerateAsync(false, new GenerationOptions(Tools: [Weather, Time]), new ChatMessage("user", "two calls"))).Completed();

        Assert.Equal(FinishReasons.ToolCalls, generation.FinishReason); // Gemini said STOP
        Assert.Equal("", generation.Content);
        Assert.Equal(["get_weather", "get_time"], generation.ToolCalls!.Select(c => c.Name));
        Assert.Equal(["""{"city":"Lima"}""", "{}"], generation.ToolCalls!.Select(c => c.Arguments));
        Assert.All(generation.ToolCalls!, c => AssertGeneratedId(c.Id));
        Assert.Equal(2, generation.ToolCalls!.Select(c => c.Id).Distinct().Count());
    }

    [Fact]
    public async Task A_streamed_call_carries_the_same_id_in_its_chunk_and_in_the_completed_generation()
    {
        var chunks = await GenerateAsync(true, new GenerationOptions(Tools: [Weather]), new ChatMessage("user", "streamed call"));

        var streamed = Assert.Single(chunks.StreamedCalls());
        AssertGeneratedId(streamed.Id);
        Assert.Equal(streamed, Assert.Single(chunks.Completed().ToolCalls!));
        Assert.Equal(FinishReasons.ToolCalls, chunks.Completed().FinishReason);
    }

    [Fact]
    public async Task Geminis_own_ids_are_kept_and_without_parallel_calls_only_the_first_is_given()
    {
        _gemini.ToolCallIds = true;
        _gemini.ToolCallsPerAnswer = 2;

        var both = await GenerateAsync(true, new GenerationOptions(Tools: [Weather, Time]), new ChatMessage("user", "both"));
        var first = await GenerateAsync(false, new GenerationOptions(Tools: [Weather, Time], ParallelToolCalls: false), new ChatMessage("user", "first"));

        Assert.Equal(["gemini_call_0", "gemini_call_1"], both.StreamedCalls().Select(c => c.Id));
        Assert.Equal(["gemini_call_0", "gemini_call_1"], both.Completed().ToolCalls!.Select(c => c.Id));
        Assert.Equal("gemini_call_0", Assert.Single(first.Completed().ToolCalls!).Id);
    }

    [Fact]
    public async Task Tool_turns_become_function_calls_and_one_user_content_of_function_responses()
    {
        ToolCall paris = new("call_a", "get_weather", """{"city":"Paris"}"""), time = new("call_b", "get_time", "{}");

        var chunks = await GenerateAsync(true, new GenerationOptions(Tools: [Weather, Time]),
            new ChatMessage("system", "Be brief."),
            new ChatMessage("user", "weather and time?"),
            new ChatMessage("assistant", "Let me look.", ToolCalls: [paris, time]),
            new ChatMessage("tool", """{"sky":"clear"}""", ToolCallId: "call_a", ToolName: "get_weather"),
            new ChatMessage("tool", "noon", ToolCallId: "call_b")); // no name: resolved from the call

        var call = Assert.Single(_gemini.Calls);
        Assert.Equal(["user", "model", "user"], call.Roles);
        Assert.Equal(
            """{"role":"model","parts":[{"text":"Let me look."},{"functionCall":{"name":"get_weather","args":{"city":"Paris"},"id":"call_a"}},{"functionCall":{"name":"get_time","args":{},"id":"call_b"}}]}""",
            call.Contents![1]!.ToJsonString());
        // One response part per call, in one content; a result that is not a JSON object is wrapped as {"content": ...}.
        Assert.Equal(
            """{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"sky":"clear"},"id":"call_a"}},{"functionResponse":{"name":"get_time","response":{"content":"noon"},"id":"call_b"}}]}""",
            call.Contents![2]!.ToJsonString());
        Assert.Equal("weather and time?", call.LastUserText);
        Assert.Equal("""echo: {"content":"noon"}""", chunks.Completed().Content);
        Assert.Equal(FinishReasons.Stop, chunks.Completed().FinishReason);
    }

    [Fact]
    public async Task A_schema_asks_for_json_with_the_schema_as_it_is_and_json_mode_for_json_only()
    {
        const string schema = """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}""";
        _gemini.JsonAnswers["capital"] = """{"city":"Paris"}""";

        var shaped = await GenerateAsync(true, new GenerationOptions(Temperature: 0.5, Format: new OutputFormat(schema, "city", true)), new ChatMessage("user", "the capital"));
        var json = await GenerateAsync(false, new GenerationOptions(Format: new OutputFormat(null)), new ChatMessage("user", "any json"));

        Assert.Equal($$"""{"temperature":0.5,"responseMimeType":"application/json","responseJsonSchema":{{schema}}}""",
            CallWith("the capital").GenerationConfig!.ToJsonString());
        Assert.Equal("""{"responseMimeType":"application/json"}""", CallWith("any json").GenerationConfig!.ToJsonString());
        Assert.Equal("""{"city":"Paris"}""", shaped.Completed().Content);
        Assert.Equal("""{"echo":"any json"}""", json.Completed().Content);
    }

    [Fact]
    public async Task The_backend_span_says_the_answer_finished_with_tool_calls()
    {
        var spans = await SpansAsync(_gemini.BaseUrl, () => GenerateAsync(false, new GenerationOptions(Tools: [Weather]), new ChatMessage("user", "span")));

        Assert.Equal(["tool_calls"], Assert.IsType<string[]>(Assert.Single(spans).GetTagItem("gen_ai.response.finish_reasons")));
    }
}
