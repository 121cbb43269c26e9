using System.Text.Json.Nodes;
using Microsoft.Extensions.Options;
using Opossum.Grains;
using Opossum.Grains.Backends.Ollama;
using Opossum.Testing.Backends;
using static Opossum.Tests.Backends.Generations;

namespace Opossum.Tests.Backends;

/// <summary>Tools and structured output through the Ollama backend to a loopback server speaking Ollama's wire format.</summary>
public sealed class OllamaToolTests : IAsyncLifetime
{
    private FakeOllama _ollama = null!;
    private OllamaBackend _backend = null!;
    private readonly HttpClient _http = new();

    public async Task InitializeAsync()
    {
        _ollama = await FakeOllama.StartAsync();
        _backend = new OllamaBackend(_http, Options.Create(new OllamaOptions { BaseUrl = _ollama.BaseUrl.ToString() }));
    }

    public async Task DisposeAsync()
    {
        await _ollama.DisposeAsync();
        _http.Dispose();
    }

    private Task<List<GenerationChunk>> GenerateAsync(bool stream, GenerationOptions? options, params ChatMessage[] messages) =>
        RunAsync(_backend, "qwen3", stream, options, messages);

    [Fact]
    public async Task Tools_reach_ollama_as_functions_with_their_parameters_as_objects()
    {
        await GenerateAsync(false, new GenerationOptions(Tools: [Weather, Time]), new ChatMessage("user", "weather in Paris?"));

        var call = Assert.Single(_ollama.Calls);
        Assert.Equal(
            """[{"type":"function","function":{"name":"get_weather","description":"The weather in a city","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},"""
            + """{"type":"function","function":{"name":"get_time","parameters":{"type":"object","properties":{}}}}]""",
            call.Tools!.ToJsonString());
        Assert.Null(call.Format);
    }

    [Fact]
    public async Task Tool_choice_none_offers_no_tools_and_a_named_function_only_that_one()
    {
        var none = await GenerateAsync(false, new GenerationOptions(Tools: [Weather, Time], ToolChoice: new(ToolChoice.Modes.None)), new ChatMessage("user", "none"));
        var one = await GenerateAsync(false, new GenerationOptions(Tools: [Weather, Time], ToolChoice: new(ToolChoice.Modes.Function, "get_time")),
            new ChatMessage("user", "one"));
        await GenerateAsync(false, new GenerationOptions(Tools: [Weather, Time], ToolChoice: new(ToolChoice.Modes.Required)), new ChatMessage("user", "all"));

        Assert.Null(Assert.Single(_ollama.Calls, c => c.LastUserMessage == "none").Tools);
        Assert.Equal("echo: none", none.Completed().Content);
        Assert.Equal(["get_time"], Assert.Single(_ollama.Calls, c => c.LastUserMessage == "one").Tools!.Select(t => t!["function"]!["name"]!.GetValue<string>()));
        Assert.Equal("get_time", Assert.Single(one.Completed().ToolCalls!).Name);
        Assert.Equal(2, Assert.Single(_ollama.Calls, c => c.LastUserMessage == "all").Tools!.Count);
    }

    [Fact]
    public async Task A_whole_answer_gives_its_calls_with_arguments_as_json_text_and_generated_ids()
    {
        _ollama.ToolArguments["get_weather"] = """{"city":"Paris","days":2}""";
        _ollama.ToolCallsPerAnswer = 2;

        var chunks = await GenerateAsync(false, new GenerationOptions(Tools: [Weather, Time]), new ChatMessage("user", "weather and time"));

        var generation = chunks.Completed();
        Assert.Equal(FinishReasons.ToolCalls, generation.FinishReason);
        Assert.Equal("", generation.Content);
        Assert.Equal(["get_weather", "get_time"], generation.ToolCalls!.Select(c => c.Name));
        Assert.Equal("""{"city":"Paris","days":2}""", generation.ToolCalls![0].Arguments);
        Assert.Equal("{}", generation.ToolCalls[1].Arguments);
        Assert.All(generation.ToolCalls, c => AssertGeneratedId(c.Id));
        Assert.NotEqual(generation.ToolCalls[0].Id, generation.ToolCalls[1].Id);
        Assert.Equal(generation.ToolCalls, chunks.StreamedCalls());
    }

    [Fact]
    public async Task A_streamed_call_carries_the_same_id_in_its_chunk_and_in_the_completed_generation()
    {
        _ollama.ToolArguments["get_weather"] = """{"city":"Oslo"}""";
        _ollama.ChunkDelay = TimeSpan.FromMilliseconds(300); // the done line comes well after the call's

        var chunks = await GenerateAsync(true, new GenerationOptions(Tools: [Weather]), new ChatMessage("user", "weather in Oslo"));

        var streamed = Assert.Single(chunks.StreamedCalls());
        // Given out as its line came, before the done line.
        Assert.Null(Assert.Single(chunks, c => c.ToolCalls is not null).Completed);
        Assert.Equal(streamed, Assert.Single(chunks.Completed().ToolCalls!));
        Assert.Equal(new ToolCall(streamed.Id, "get_weather", """{"city":"Oslo"}"""), streamed);
        AssertGeneratedId(streamed.Id);
        Assert.Equal(FinishReasons.ToolCalls, chunks.Completed().FinishReason);
        Assert.True(Assert.Single(_ollama.Calls).Streamed);
    }

    [Fact]
    public async Task Ollamas_own_ids_are_kept()
    {
        _ollama.ToolCallIds = true;

        var whole = await GenerateAsync(false, new GenerationOptions(Tools: [Weather]), new ChatMessage("user", "whole"));
        var streamed = await GenerateAsync(true, new GenerationOptions(Tools: [Weather]), new ChatMessage("user", "streamed"));

        Assert.Equal("ollama_call_0", Assert.Single(whole.Completed().ToolCalls!).Id);
        Assert.Equal("ollama_call_0", Assert.Single(streamed.StreamedCalls()).Id);
        Assert.Equal("ollama_call_0", Assert.Single(streamed.Completed().ToolCalls!).Id);
    }

    [Fact]
    public async Task Without_parallel_calls_only_the_first_call_is_given()
    {
        _ollama.ToolCallsPerAnswer = 2;

        var chunks = await GenerateAsync(true, new GenerationOptions(Tools: [Weather, Time], ParallelToolCalls: false), new ChatMessage("user", "both"));

        Assert.Equal("get_weather", Assert.Single(chunks.StreamedCalls()).Name);
        Assert.Equal("get_weather", Assert.Single(chunks.Completed().ToolCalls!).Name);
    }

    [Fact]
    public async Task Tool_turns_reach_ollama_as_assistant_tool_calls_and_tool_messages()
    {
        var call = new ToolCall("call_1", "get_weather", """{"city":"Paris"}""");

        var chunks = await GenerateAsync(true, new GenerationOptions(Tools: [Weather]),
            new ChatMessage("user", "weather in Paris?"),
            new ChatMessage("assistant", "", ToolCalls: [call]),
            new ChatMessage("tool", """{"sky":"clear"}""", ToolCallId: "call_1", ToolName: "get_weather"));

        var sent = Assert.Single(_ollama.Calls).Messages;
        Assert.Equal(["user", "assistant", "tool"], sent.Select(m => m.Role));
        Assert.Equal("""[{"function":{"name":"get_weather","arguments":{"city":"Paris"}}}]""", sent[1].ToolCalls!.ToJsonString());
        Assert.Equal("get_weather", sent[2].ToolName);
        Assert.Equal("""{"sky":"clear"}""", sent[2].Content);
        // The tool's result answered: text, no more calls.
        Assert.Equal("""echo: {"sky":"clear"}""", chunks.Completed().Content);
        Assert.Equal(FinishReasons.Stop, chunks.Completed().FinishReason);
        Assert.Null(chunks.Completed().ToolCalls);
    }

    [Fact]
    public async Task Json_mode_asks_format_json_and_a_schema_is_sent_as_the_format_object()
    {
        const string schema = """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""";
        _ollama.JsonAnswers["capital"] = """{"city": "Paris"}""";

        var json = await GenerateAsync(true, new GenerationOptions(Format: new OutputFormat(null)), new ChatMessage("user", "any json"));
        var shaped = await GenerateAsync(false, new GenerationOptions(Format: new OutputFormat(schema, "city", true)), new ChatMessage("user", "the capital"));

        Assert.Equal("\"json\"", Assert.Single(_ollama.Calls, c => c.LastUserMessage == "any json").Format!.ToJsonString());
        Assert.Equal(schema, Assert.Single(_ollama.Calls, c => c.LastUserMessage == "the capital").Format!.ToJsonString());
        Assert.Equal("""{"echo":"any json"}""", json.Completed().Content);
        Assert.Equal("""{"city": "Paris"}""", shaped.Completed().Content);
        Assert.Equal(FinishReasons.Stop, shaped.Completed().FinishReason);
    }

    [Fact]
    public async Task The_backend_span_says_the_answer_finished_with_tool_calls()
    {
        var spans = await SpansAsync(_ollama.BaseUrl, () => GenerateAsync(true, new GenerationOptions(Tools: [Weather]), new ChatMessage("user", "span")));

        var span = Assert.Single(spans);
        Assert.Equal(["tool_calls"], Assert.IsType<string[]>(span.GetTagItem("gen_ai.response.finish_reasons")));
    }
}
