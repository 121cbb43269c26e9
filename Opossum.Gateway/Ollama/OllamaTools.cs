using System.Text.Json;
using Opossum.Grains;
using Opossum.Gateway.Chat;

namespace Opossum.Gateway.Ollama;

/// <summary>
/// Ollama's <c>tools</c>, <c>tool_calls</c> and <c>format</c> read into the pipeline's contracts, and calls written back as Ollama
/// sends them: each checked here, naming the field, so that a bad one is refused before any backend call.
/// </summary>
public static class OllamaTools
{
    /// <summary>The functions of <c>tools</c>; null when there are none.</summary>
    public static List<ToolDefinition>? Definitions(List<OllamaTool>? tools)
    {
        if (tools is not { Count: > 0 })
            return null;
        var definitions = new List<ToolDefinition>(tools.Count);
        for (var i = 0; i < tools.Count; i++)
        {
            var at = $"tools[{i}]";
            if (tools[i] is not { } tool)
                throw OpossumException.BadInput($"{at} must be an object.", at);
            if (tool.Type is not (null or "function"))
                throw OpossumException.BadInput($"{at}.type must be 'function', not '{tool.Type}'.", $"{at}.type");
            var function = tool.Function ?? throw OpossumException.BadInput($"{at}.function is required.", $"{at}.function");
            var name = ToolInput.Name(function.Name, $"{at}.function.name");
            if (definitions.Any(d => d.Name == name))
                throw OpossumException.BadInput($"{at}.function.name is already the name of another function.", $"{at}.function.name");
            definitions.Add(new ToolDefinition(name, function.Description, function.Parameters is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } parameters
                ? ToolInput.Schema(parameters, $"{at}.function.parameters") : ToolInput.NoParameters));
        }
        return definitions;
    }

    /// <summary>
    /// <c>format</c>: <c>"json"</c> is JSON mode; a JSON Schema is a structured answer, checked, since Ollama constrains its output to
    /// the schema and the gateway keeps that promise whichever backend answers. Null when absent, <c>null</c> or <c>""</c>, as Ollama reads them.
    /// </summary>
    public static OutputFormat? Format(JsonElement? format)
    {
        if (format is not { } value || value.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined)
            return null;
        switch (value.ValueKind)
        {
            case JsonValueKind.String when value.GetString() is "":
                return null;
            case JsonValueKind.String when value.GetString() is "json":
                return new OutputFormat(null);
            case JsonValueKind.Object:
                return new OutputFormat(ToolInput.Schema(value, "format"), null, Strict: true);
            default:
                throw OpossumException.BadInput("format must be \"json\" or a JSON Schema object.", "format");
        }
    }

    /// <summary>
    /// The calls of an assistant message at <paramref name="at"/> (<c>messages[i]</c>); a call without an id gets one from its place,
    /// <c>call_&lt;message&gt;_&lt;call&gt;</c>, so that the same history always reads the same (and is the same cache key).
    /// </summary>
    public static List<ToolCall>? Calls(List<OllamaToolCall>? calls, int message, string at)
    {
        if (calls is not { Count: > 0 })
            return null;
        var read = new List<ToolCall>(calls.Count);
        for (var i = 0; i < calls.Count; i++)
        {
            var call = $"{at}.tool_calls[{i}]";
            var function = calls[i]?.Function ?? throw OpossumException.BadInput($"{call}.function is required.", $"{call}.function");
            var name = ToolInput.Name(function.Name, $"{call}.function.name");
            var arguments = function.Arguments is { ValueKind: not (JsonValueKind.Null or JsonValueKind.Undefined) } given ? given : (JsonElement?)null;
            if (arguments is { ValueKind: not JsonValueKind.Object })
                throw OpossumException.BadInput($"{call}.function.arguments must be an object.", $"{call}.function.arguments");
            var id = string.IsNullOrEmpty(calls[i]!.Id) ? $"call_{message}_{i}" : calls[i]!.Id!;
            read.Add(new ToolCall(id, name, arguments?.GetRawText() ?? "{}"));
        }
        return read;
    }

    /// <summary>Calls as Ollama writes them in an answer: an id, the function's place among the answer's calls, arguments as an object.</summary>
    public static List<OllamaToolCall> Written(IEnumerable<ToolCall> calls, int first) =>
        calls.Select((call, i) => new OllamaToolCall(call.Id, new OllamaToolCallFunction(first + i, call.Name, JsonElement.Parse(call.Arguments)))).ToList();
}
