using System.Security.Cryptography;
using System.Text.Json;

namespace Opossum.Grains.Backends;

/// <summary>What every backend does the same with tools: JSON text onto the wire and back, and ids for calls that came without one.</summary>
public static class ToolWire
{
    /// <summary>An id for a call its backend gave none: <c>call_</c> and 24 random hex digits, made once, when the call is read.</summary>
    public static string NewId() => "call_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));

    /// <summary>JSON text (a schema, a call's arguments) as it goes onto the wire, unchanged.</summary>
    public static JsonElement Json(string text) => JsonElement.Parse(text);

    /// <summary>A call's arguments as JSON text: an object as written; a string (a backend that sends the text itself) as it is.</summary>
    public static string Arguments(JsonElement? arguments) => arguments switch
    {
        null or { ValueKind: JsonValueKind.Undefined or JsonValueKind.Null } => "{}",
        { ValueKind: JsonValueKind.String } text => text.GetString() ?? "{}",
        { } json => json.GetRawText(),
    };

    /// <summary>Keeps the first call only when the client asked for no parallel calls, which no backend can be told.</summary>
    public static bool Takes(GenerationOptions? options, List<ToolCall> read) => options?.ParallelToolCalls != false || read.Count == 0;

    /// <summary>The calls read since <paramref name="before"/>, or null when there are none.</summary>
    public static IReadOnlyList<ToolCall>? Since(List<ToolCall> calls, int before) =>
        calls.Count > before ? calls.GetRange(before, calls.Count - before) : null;
}
