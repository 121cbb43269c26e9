using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Opossum.Grains;
using Opossum.Grains.Caching;

namespace Opossum.Tests.Grains;

/// <summary>What the response cache key depends on: tools, tool choice, format and the messages' tool fields, each of them.</summary>
public sealed class CacheKeyTests
{
    private const string Weather = """{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}""";
    private static readonly ToolDefinition Tool = new("get_weather", "The weather in a city", Weather, Strict: true);
    private static readonly OutputFormat Format = new("""{"type":"object"}""", "answer", Strict: true);
    private static readonly List<ChatMessage> Messages = [new("user", "weather in Oslo?")];

    private static string Key(GenerationOptions? options = null, IReadOnlyList<ChatMessage>? messages = null) =>
        CacheKey.For(new GenerationRequest("m", messages ?? Messages, options));

    // The key as it was before tools existed: SHA-256 of the model, then each message's role, content and image hash, length-prefixed.
    private static string KeyWithoutTools(string model, IEnumerable<ChatMessage> messages)
    {
        var bytes = new List<byte>();
        void Add(string value)
        {
            var text = Encoding.UTF8.GetBytes(value);
            var length = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(length, text.Length);
            bytes.AddRange(length);
            bytes.AddRange(text);
        }
        Add(model);
        foreach (var message in messages)
        {
            Add(message.Role);
            Add(message.Content);
            Add(message.Image?.Sha256 ?? "");
        }
        return Convert.ToHexStringLower(SHA256.HashData(bytes.ToArray()));
    }

    [Fact]
    public void A_request_without_tools_or_format_keeps_the_key_it_had()
    {
        var messages = new List<ChatMessage> { new("system", "Be brief."), new("user", "hi"), new("assistant", "hello"), new("user", "and?") };

        Assert.Equal(KeyWithoutTools("m", messages), CacheKey.For(new GenerationRequest("m", messages)));
        Assert.Equal(KeyWithoutTools("m", messages), CacheKey.For(new GenerationRequest("m", messages, new GenerationOptions())));
    }

    private static readonly (string Change, GenerationOptions Options)[] OptionChanges =
    [
        ("a tool", new GenerationOptions(Tools: [Tool])),
        ("another tool name", new GenerationOptions(Tools: [Tool with { Name = "get_time" }])),
        ("another description", new GenerationOptions(Tools: [Tool with { Description = "Weather" }])),
        ("no description", new GenerationOptions(Tools: [Tool with { Description = null }])),
        ("other parameters", new GenerationOptions(Tools: [Tool with { Parameters = """{"type":"object"}""" }])),
        ("not strict", new GenerationOptions(Tools: [Tool with { Strict = false }])),
        ("two tools", new GenerationOptions(Tools: [Tool, Tool with { Name = "get_time" }])),
        ("tool choice auto", new GenerationOptions(Tools: [Tool], ToolChoice: new(ToolChoice.Modes.Auto))),
        ("tool choice required", new GenerationOptions(Tools: [Tool], ToolChoice: new(ToolChoice.Modes.Required))),
        ("tool choice of a function", new GenerationOptions(Tools: [Tool], ToolChoice: new(ToolChoice.Modes.Function, "get_weather"))),
        ("parallel calls", new GenerationOptions(Tools: [Tool], ParallelToolCalls: true)),
        ("one call at a time", new GenerationOptions(Tools: [Tool], ParallelToolCalls: false)),
        ("a format", new GenerationOptions(Format: Format)),
        ("JSON mode", new GenerationOptions(Format: new OutputFormat(null))),
        ("another schema", new GenerationOptions(Format: Format with { Schema = """{"type":"array"}""" })),
        ("another format name", new GenerationOptions(Format: Format with { Name = "other" })),
        ("no format name", new GenerationOptions(Format: Format with { Name = null })),
        ("a format not strict", new GenerationOptions(Format: Format with { Strict = false })),
    ];

    [Fact]
    public void Each_tool_and_format_field_changes_the_key()
    {
        var keys = OptionChanges.Select(row => (row.Change, Key(row.Options))).Prepend(("none", Key())).ToList();

        // Every one differs from every other, and from none at all.
        Assert.Empty(keys.GroupBy(k => k.Item2).Where(g => g.Count() > 1).Select(g => string.Join(" = ", g.Select(k => k.Item1))));
        Assert.Equal(Key(new GenerationOptions(Tools: [Tool])), Key(new GenerationOptions(Tools: [Tool with { }])));
    }

    [Fact]
    public void The_messages_tool_calls_and_results_change_the_key()
    {
        var call = new ToolCall("call_1", "get_weather", """{"city":"Oslo"}""");
        List<ChatMessage> Turns(ChatMessage assistant, ChatMessage tool) => [new("user", "weather in Oslo?"), assistant, tool, new("user", "thanks")];
        var assistant = new ChatMessage("assistant", "", ToolCalls: [call]);
        var result = new ChatMessage("tool", "sunny", ToolCallId: "call_1", ToolName: "get_weather");
        var baseline = Key(messages: Turns(assistant, result));

        string[] changed =
        [
            Key(messages: Turns(assistant with { ToolCalls = null }, result)),
            Key(messages: Turns(assistant with { ToolCalls = [call with { Id = "call_2" }] }, result)),
            Key(messages: Turns(assistant with { ToolCalls = [call with { Name = "get_time" }] }, result)),
            Key(messages: Turns(assistant with { ToolCalls = [call with { Arguments = """{"city":"Bergen"}""" }] }, result)),
            Key(messages: Turns(assistant with { ToolCalls = [call, call with { Id = "call_2" }] }, result)),
            Key(messages: Turns(assistant, result with { ToolCallId = "call_2" })),
            Key(messages: Turns(assistant, result with { ToolCallId = null })),
            Key(messages: Turns(assistant, result with { ToolName = "get_time" })),
            Key(messages: Turns(assistant, result with { ToolName = null })),
        ];

        Assert.Equal(changed.Length + 1, changed.Append(baseline).Distinct().Count());
        Assert.Equal(baseline, Key(messages: Turns(assistant with { ToolCalls = [call with { }] }, result with { })));
    }
}
