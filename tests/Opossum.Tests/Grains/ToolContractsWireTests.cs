using Microsoft.Extensions.DependencyInjection;
using Opossum.Grains;
using Orleans.Serialization;

namespace Opossum.Tests.Grains;

/// <summary>
/// In a cluster, tools, tool calls and formats cross silos in Orleans' wire format (a gateway's request to a silo, a generation to
/// the cache grain on another): each field must come back as it left, or a tool loop works standalone and breaks in a cluster.
/// </summary>
public sealed class ToolContractsWireTests
{
    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(b => b.AddAssembly(typeof(GenerationRequest).Assembly))
        .BuildServiceProvider().GetRequiredService<Serializer>();

    private static readonly ToolCall Call = new("call_1", "get_weather", """{"city":"Paris"}""");

    [Fact]
    public void A_request_with_tools_tool_turns_and_a_format_crosses_silos_whole()
    {
        var options = new GenerationOptions(Temperature: 0.2,
            Tools: [new ToolDefinition("get_weather", "The weather", """{"type":"object"}""", Strict: true)],
            ToolChoice: new ToolChoice(ToolChoice.Modes.Function, "get_weather"), ParallelToolCalls: false,
            Format: new OutputFormat("""{"type":"object"}""", "place", Strict: true));
        var request = new GenerationRequest("qwen3",
        [
            new ChatMessage("user", "weather in Paris?"),
            new ChatMessage("assistant", "", ToolCalls: [Call]),
            new ChatMessage("tool", """{"sky":"clear"}""", ToolCallId: "call_1", ToolName: "get_weather"),
        ], options);

        var copy = Serializer.Deserialize<GenerationRequest>(Serializer.SerializeToArray(request))!;

        Assert.Equal(options.Tools, copy.Options!.Tools);
        Assert.Equal(options with { Tools = null }, copy.Options with { Tools = null });
        Assert.Equal(Call, Assert.Single(copy.Messages[1].ToolCalls!));
        Assert.Equal(("call_1", "get_weather"), (copy.Messages[2].ToolCallId, copy.Messages[2].ToolName));
    }

    [Fact]
    public void An_answer_of_tool_calls_crosses_silos_whole_streamed_or_not()
    {
        var generation = new Generation("", "ollama", "qwen3", 12, 3, FinishReasons.ToolCalls, ToolCalls: [Call]);
        var chunk = new GenerationChunk("", generation, ToolCalls: [Call]);
        var reply = new ReplyChunk("", "ollama", "qwen3", false, new ChatReply("", "c", "ollama", "qwen3", false, 15, ToolCalls: [Call]), ToolCalls: [Call]);

        var chunkCopy = Serializer.Deserialize<GenerationChunk>(Serializer.SerializeToArray(chunk))!;
        var replyCopy = Serializer.Deserialize<ReplyChunk>(Serializer.SerializeToArray(reply))!;

        Assert.Equal(Call, Assert.Single(chunkCopy.ToolCalls!));
        Assert.Equal(Call, Assert.Single(chunkCopy.Completed!.ToolCalls!));
        Assert.Equal(FinishReasons.ToolCalls, chunkCopy.Completed.FinishReason);
        Assert.Equal(Call, Assert.Single(replyCopy.ToolCalls!));
        Assert.Equal(Call, Assert.Single(replyCopy.Reply!.ToolCalls!));
    }
}
