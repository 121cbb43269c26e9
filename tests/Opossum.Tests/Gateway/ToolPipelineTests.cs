using System.Diagnostics;
using System.Text.Json.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Opossum.Grains;
using Opossum.Grains.Telemetry;
using Opossum.Tests.Support;

namespace Opossum.Tests.Gateway;

/// <summary>
/// Tools and checked answers in the pipeline under every door: stateless chats sent to the gateway's co-hosted silo as the
/// OpenAI and Ollama doors send them, answered by the loopback servers' tool calls; and what the model grain's span says of them.
/// </summary>
public sealed class ToolPipelineTests(StructuredOutputFixture fixture) : IClassFixture<StructuredOutputFixture>
{
    private const string Weather = """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""";
    private static readonly ToolDefinition GetWeather = new("get_weather", "The weather in a city", Weather, Strict: true);
    private static readonly ToolDefinition GetTime = new("get_time", null, """{"type":"object"}""");

    private IGrainFactory Grains => fixture.Gateway.Services.GetRequiredService<IGrainFactory>();

    private static string Unique(string text) => $"{text} {Guid.NewGuid():N}";

    private static ChatCommand Stateless(string message, string? model, GenerationOptions options, IReadOnlyList<ChatMessage>? history = null) =>
        new(message, model, NoCache: true, StartsConversation: false, RequestId: Guid.NewGuid().ToString("N"), Options: options, History: history ?? []);

    private Task<ChatReply> AnswerAsync(ChatCommand command) =>
        Grains.GetGrain<IConversationStarterGrain>(0).Start(command.RequestId!, command);

    private async Task<List<ReplyChunk>> StreamAsync(ChatCommand command)
    {
        var chunks = new List<ReplyChunk>();
        await foreach (var chunk in Grains.GetGrain<IConversationStarterGrain>(0).StartStream(command.RequestId!, command))
            chunks.Add(chunk);
        return chunks;
    }

    // The test's own span on the gateway's source: every span of the chat below it shares its trace.
    private async Task<(T Result, List<Activity> Spans)> TracedAsync<T>(Func<Task<T>> chat, Func<List<Activity>, bool> complete)
    {
        string traceId;
        T result;
        using (var root = OpossumTelemetry.Source.StartActivity("test"))
        {
            traceId = root!.TraceId.ToHexString();
            result = await chat();
        }
        for (var i = 0; i < 100; i++)
        {
            var spans = fixture.Gateway.Spans.Snapshot().Where(s => s.TraceId.ToHexString() == traceId).ToList();
            if (complete(spans)) return (result, spans);
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException($"trace {traceId} was not exported completely");
    }

    [Fact]
    public async Task Tools_for_a_model_that_takes_none_are_bad_user_input_naming_tools()
    {
        var error = await Assert.ThrowsAsync<OpossumException>(() => AnswerAsync(Stateless("weather?", StructuredOutputFixture.Gemma, new(Tools: [GetWeather]))));

        Assert.Equal(ErrorCodes.BadUserInput, error.Code);
        Assert.Equal("Model 'gemma3:1b' does not take tools. Models that do: gemini-thinking.", error.Message);
    }

    [Fact]
    public async Task A_context_with_tool_calls_needs_a_model_that_takes_tools()
    {
        var call = new ToolCall("call_1", "get_weather", """{"city":"Oslo"}""");
        List<ChatMessage> history = [new("user", "weather in Oslo?"), new("assistant", "", ToolCalls: [call]), new("tool", "sunny", ToolCallId: "call_1", ToolName: "get_weather")];

        var error = await Assert.ThrowsAsync<OpossumException>(() => AnswerAsync(Stateless("thanks", StructuredOutputFixture.Plain, new(), history)));

        Assert.Equal(ErrorCodes.BadUserInput, error.Code);
        Assert.StartsWith("Model 'plain' does not take tools.", error.Message);
    }

    [Fact]
    public async Task Without_a_model_named_a_tool_request_goes_to_a_model_that_takes_tools()
    {
        var prompt = Unique("which model");

        var reply = await AnswerAsync(Stateless(prompt, null, new(Tools: [GetWeather with { Strict = false }])));

        Assert.Equal(StructuredOutputFixture.Gemini, reply.Model);
        Assert.Equal("get_weather", Assert.Single(reply.ToolCalls!).Name);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task With_parallel_tool_calls_false_only_the_first_call_is_given_out_and_the_span_counts_it(bool streamed)
    {
        var prompt = Unique("two calls");
        fixture.GeminiServer.ToolCallsPerAnswer = 2;
        try
        {
            var command = Stateless(prompt, StructuredOutputFixture.Gemini, new(Tools: [GetTime, GetWeather with { Strict = false }], ParallelToolCalls: false));
            var (reply, spans) = await TracedAsync(async () => streamed ? (await StreamAsync(command))[^1].Reply! : await AnswerAsync(command),
                s => s.Any(x => x.DisplayName == OpossumTelemetry.Spans.ModelGenerate));
            var both = await AnswerAsync(command with { RequestId = Guid.NewGuid().ToString("N"), Options = command.Options! with { ParallelToolCalls = null } });

            Assert.Equal("get_time", Assert.Single(reply.ToolCalls!).Name);
            Assert.Equal(["get_time", "get_weather"], both.ToolCalls!.Select(c => c.Name));
            Assert.Equal(FinishReasons.ToolCalls, reply.FinishReason);
            var model = Assert.Single(spans, s => s.DisplayName == OpossumTelemetry.Spans.ModelGenerate);
            Assert.Equal(1, model.GetTagItem(OpossumTelemetry.Tags.ResponseToolCalls));
            Assert.Equal(["tool_calls"], (string[])model.GetTagItem(OpossumTelemetry.Tags.GenAiResponseFinishReasons)!);
        }
        finally
        {
            fixture.GeminiServer.ToolCallsPerAnswer = 1;
        }
    }

    [Fact]
    public async Task A_streamed_chat_with_parallel_tool_calls_false_streams_one_call()
    {
        var prompt = Unique("two streamed calls");
        fixture.GeminiServer.ToolCallsPerAnswer = 2;
        try
        {
            var chunks = await StreamAsync(Stateless(prompt, StructuredOutputFixture.Gemini, new(Tools: [GetTime, GetWeather with { Strict = false }], ParallelToolCalls: false)));

            var streamed = chunks.SelectMany(c => c.ToolCalls ?? []).ToList();
            Assert.True(streamed.Count <= 1, string.Join(", ", streamed));
            Assert.Equal("get_time", Assert.Single(chunks[^1].Reply!.ToolCalls!).Name);
        }
        finally
        {
            fixture.GeminiServer.ToolCallsPerAnswer = 1;
        }
    }

    [Fact]
    public async Task A_call_whose_arguments_are_off_a_strict_functions_parameters_is_invalid_model_output()
    {
        var prompt = Unique("bad arguments");
        fixture.GeminiServer.ToolArguments["get_weather"] = """{"city":7}""";
        try
        {
            var error = await Assert.ThrowsAsync<OpossumException>(() => AnswerAsync(Stateless(prompt, null, new(Tools: [GetWeather]))));

            Assert.Equal(ErrorCodes.InvalidModelOutput, error.Code);
            Assert.Contains("gemini-thinking (gemini) answered off the schema: the arguments of the call to 'get_weather': /city", error.Message);
        }
        finally
        {
            fixture.GeminiServer.ToolArguments.TryRemove("get_weather", out _);
        }
    }

    [Fact]
    public async Task A_schema_failure_is_an_error_event_on_the_model_span_with_paths_and_no_values()
    {
        var prompt = Unique("traced off schema");
        const string Marker = "48151623";
        fixture.Ollama.JsonAnswers[prompt] = $$"""{"echo":{{Marker}}}""";
        var result = await fixture.Gateway.PostAsync("mutation Chat($input: ChatInput!) { chat(input: $input) { modelUsed traceId } }",
            new { input = new { message = prompt, model = StructuredOutputFixture.Gemma, jsonSchema = StructuredOutputFixture.EchoSchema } });
        var traceId = result.Data!["chat"]!["traceId"]!.GetValue<string>();
        List<Activity> spans = [];
        for (var i = 0; i < 100 && spans.Count(s => s.DisplayName == OpossumTelemetry.Spans.ModelGenerate) < 2; i++, await Task.Delay(50))
            spans = fixture.Gateway.Spans.Snapshot().Where(s => s.TraceId.ToHexString() == traceId).ToList();

        var models = spans.Where(s => s.DisplayName == OpossumTelemetry.Spans.ModelGenerate).ToList();
        var failed = Assert.Single(models, s => (string?)s.GetTagItem(OpossumTelemetry.Tags.ModelName) == StructuredOutputFixture.Gemma);
        var answered = Assert.Single(models, s => (string?)s.GetTagItem(OpossumTelemetry.Tags.ModelName) == StructuredOutputFixture.Gemini);
        Assert.Equal(ActivityStatusCode.Error, failed.Status);
        var check = Assert.Single(failed.Events, e => e.Name == OpossumTelemetry.Events.OutputCheckFailed);
        Assert.Equal("INVALID_MODEL_OUTPUT", check.Tags.Single(t => t.Key == OpossumTelemetry.Tags.ErrorType).Value);
        Assert.Equal(["content/echo"], (string[])check.Tags.Single(t => t.Key == OpossumTelemetry.Tags.OutputFailedPaths).Value!);
        Assert.Equal(["stop"], (string[])failed.GetTagItem(OpossumTelemetry.Tags.GenAiResponseFinishReasons)!);
        Assert.Equal(ActivityStatusCode.Unset, answered.Status);
        Assert.Equal(0, answered.GetTagItem(OpossumTelemetry.Tags.ResponseToolCalls));
        // Nothing of the answer is on any span: not its value, nor the prompt.
        foreach (var span in spans)
        {
            var texts = span.TagObjects.Select(t => t.Value).Concat(span.Events.SelectMany(e => e.Tags).Select(t => t.Value))
                .Append(span.StatusDescription).Select(v => v is string[] many ? string.Join(",", many) : v?.ToString() ?? "");
            Assert.All(texts, t => Assert.DoesNotContain(Marker, t));
            Assert.All(texts, t => Assert.DoesNotContain(prompt, t));
        }
    }
}
