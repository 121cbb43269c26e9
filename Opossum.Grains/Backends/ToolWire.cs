using System.Security.Cryptography;
using System.Text.Json;

namespace Opossum.Grains.Backends;

/// <summary>What every backend does the same with tools: a call's arguments read back as JSON text, and ids for calls that came without one.</summary>
public static class ToolWire
{
    /// <summary>An id for a call its backend gave none: <c>call_</c> and 24 random hex digits, made once, when the call is read.</summary>
    public static string NewId() => "call_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12));

    /// <summary>A call's arguments as JSON text: an object as written; a string (a backend that sends the text itself) as it is.</summary>
    public static string Arguments(JsonElement? arguments) => arguments switch
    {
        null or { ValueKind: JsonValueKind.Undefined or JsonValueKind.Null } => "{}",
        { ValueKind: JsonValueKind.String } text => text.GetString() ?? "{}",
        { } json => json.GetRawText(),
    };

    /// <summary>The calls read since <paramref name="before"/>, or null when there are none.</summary>
    public static IReadOnlyList<ToolCall>? Since(List<ToolCall> calls, int before) =>
        calls.Count > before ? calls.GetRange(before, calls.Count - before) : null;
}
