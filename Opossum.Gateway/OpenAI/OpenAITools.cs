using System.Text.Json;
using Opossum.Grains;
using Opossum.Gateway.Chat;

namespace Opossum.Gateway.OpenAI;

/// <summary>
/// Reads what a Chat Completions request says about tools and the answer's format: <c>tools</c>, <c>tool_choice</c>,
/// <c>response_format</c>, and the <c>tool_calls</c> of assistant messages. Each malformed field is refused naming it, and every
/// schema is built here, so that none reaches a backend unchecked.
/// </summary>
public static class OpenAITools
{
    /// <summary>The functions offered, or null when none is.</summary>
    public static List<ToolDefinition>? Tools(JsonElement? tools)
    {
        if (tools is not { ValueKind: not JsonValueKind.Null } list)
            return null;
        if (list.ValueKind != JsonValueKind.Array)
            throw OpossumException.BadInput("tools must be a list of functions.", "tools");
        var offered = new List<ToolDefinition>();
        var index = 0;
        foreach (var tool in list.EnumerateArray())
        {
            var at = $"tools[{index++}]";
            if (tool.ValueKind != JsonValueKind.Object)
                throw OpossumException.BadInput($"{at} must be an object.", at);
            var type = String(tool, "type", $"{at}.type");
            if (type != "function")
                throw OpossumException.BadInput($"{at}.type must be 'function'{(type is null ? "" : $", not '{type}'")}: the gateway offers functions only.", $"{at}.type");
            if (!tool.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
                throw OpossumException.BadInput($"{at}.function is required: an object with the function's name.", $"{at}.function");
            var name = Name(function, $"{at}.function.name");
            if (offered.Any(t => t.Name == name))
                throw OpossumException.BadInput($"{at}.function.name: '{name}' is offered twice.", $"{at}.function.name");
            var parameters = Schema(function, "parameters", $"{at}.function.parameters") ?? ToolInput.NoParameters;
            offered.Add(new ToolDefinition(name, String(function, "description", $"{at}.function.description"), parameters,
                Bool(function, "strict", $"{at}.function.strict")));
        }
        return offered.Count > 0 ? offered : null;
    }

    /// <summary>
    /// The tool choice: <c>auto</c>, <c>none</c>, <c>required</c>, or one offered function. Without tools, <c>auto</c> and <c>none</c>
    /// choose nothing and are dropped; the others have nothing to choose from.
    /// </summary>
    public static ToolChoice? Choice(JsonElement? choice, IReadOnlyList<ToolDefinition>? tools)
    {
        const string param = "tool_choice";
        if (choice is not { ValueKind: not JsonValueKind.Null } value)
            return null;
        if (value.ValueKind == JsonValueKind.String)
        {
            var mode = value.GetString();
            if (mode is not (ToolChoice.Modes.Auto or ToolChoice.Modes.None or ToolChoice.Modes.Required))
                throw OpossumException.BadInput($"tool_choice must be 'auto', 'none', 'required' or a function, not '{mode}'.", param);
            if (tools is null)
                return mode == ToolChoice.Modes.Required
                    ? throw OpossumException.BadInput("tool_choice 'required' needs tools to choose from.", param)
                    : null;
            return new ToolChoice(mode);
        }
        if (value.ValueKind != JsonValueKind.Object)
            throw OpossumException.BadInput("tool_choice must be 'auto', 'none', 'required' or {\"type\": \"function\", \"function\": {\"name\"}}.", param);
        var type = String(value, "type", $"{param}.type");
        if (type != "function")
            throw OpossumException.BadInput($"tool_choice.type must be 'function'{(type is null ? "" : $", not '{type}'")}.", $"{param}.type");
        if (!value.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
            throw OpossumException.BadInput("tool_choice.function is required: {\"name\": ...}.", $"{param}.function");
        var name = Name(function, $"{param}.function.name");
        if (tools?.Any(t => t.Name == name) != true)
            throw OpossumException.BadInput($"tool_choice names '{name}', which is not among the tools offered.", $"{param}.function.name");
        return new ToolChoice(ToolChoice.Modes.Function, name);
    }

    /// <summary>The answer's format: null for text, JSON mode for <c>json_object</c>, a schema for <c>json_schema</c>.</summary>
    public static OutputFormat? Format(JsonElement? format)
    {
        const string param = "response_format";
        if (format is not { ValueKind: not JsonValueKind.Null } value)
            return null;
        if (value.ValueKind != JsonValueKind.Object)
            throw OpossumException.BadInput("response_format must be an object with a type.", param);
        switch (String(value, "type", $"{param}.type"))
        {
            case "text":
                return null;
            case "json_object":
                return new OutputFormat(null);
            case "json_schema":
                if (!value.TryGetProperty("json_schema", out var schema) || schema.ValueKind != JsonValueKind.Object)
                    throw OpossumException.BadInput("response_format.json_schema is required with type 'json_schema': {\"name\", \"schema\", \"strict\"}.", $"{param}.json_schema");
                var name = Name(schema, $"{param}.json_schema.name");
                // Without a schema the answer is any JSON, as OpenAI takes it; strict then has nothing to check against.
                return new OutputFormat(Schema(schema, "schema", $"{param}.json_schema.schema"), name, Bool(schema, "strict", $"{param}.json_schema.strict"));
            case var other:
                throw OpossumException.BadInput($"response_format.type must be 'text', 'json_object' or 'json_schema'{(other is null ? "" : $", not '{other}'")}.", $"{param}.type");
        }
    }

    /// <summary>The calls an assistant message made: each an id, <c>type: function</c>, and the function's name and arguments (JSON text of an object).</summary>
    public static List<ToolCall> Calls(JsonElement calls, string param)
    {
        if (calls.ValueKind != JsonValueKind.Array)
            throw OpossumException.BadInput($"{param} must be a list of tool calls.", param);
        var made = new List<ToolCall>();
        var index = 0;
        foreach (var call in calls.EnumerateArray())
        {
            var at = $"{param}[{index++}]";
            if (call.ValueKind != JsonValueKind.Object)
                throw OpossumException.BadInput($"{at} must be an object.", at);
            var id = String(call, "id", $"{at}.id");
            if (string.IsNullOrEmpty(id))
                throw OpossumException.BadInput($"{at}.id is required.", $"{at}.id");
            if (String(call, "type", $"{at}.type") is { } type and not "function")
                throw OpossumException.BadInput($"{at}.type must be 'function', not '{type}'.", $"{at}.type");
            if (!call.TryGetProperty("function", out var function) || function.ValueKind != JsonValueKind.Object)
                throw OpossumException.BadInput($"{at}.function is required.", $"{at}.function");
            var name = Name(function, $"{at}.function.name");
            var arguments = String(function, "arguments", $"{at}.function.arguments") is { } text && !string.IsNullOrWhiteSpace(text) ? text : "{}";
            if (!IsObject(arguments))
                throw OpossumException.BadInput($"{at}.function.arguments must be a JSON object as text.", $"{at}.function.arguments");
            made.Add(new ToolCall(id, name, arguments));
        }
        return made;
    }

    private static string Name(JsonElement owner, string param) => ToolInput.Name(String(owner, "name", param), param);

    private static string? Schema(JsonElement owner, string property, string param) =>
        !owner.TryGetProperty(property, out var schema) || schema.ValueKind == JsonValueKind.Null ? null : ToolInput.Schema(schema, param);

    private static string? String(JsonElement owner, string property, string param) =>
        !owner.TryGetProperty(property, out var value) || value.ValueKind == JsonValueKind.Null ? null
        : value.ValueKind == JsonValueKind.String ? value.GetString()
        : throw OpossumException.BadInput($"{param} must be a string.", param);

    private static bool Bool(JsonElement owner, string property, string param) =>
        owner.TryGetProperty(property, out var value) && value.ValueKind switch
        {
            JsonValueKind.True => true,
            JsonValueKind.False or JsonValueKind.Null => false,
            _ => throw OpossumException.BadInput($"{param} must be true or false.", param),
        };

    private static bool IsObject(string json)
    {
        try
        {
            using var document = JsonDocument.Parse(json);
            return document.RootElement.ValueKind == JsonValueKind.Object;
        }
        catch (JsonException)
        {
            return false;
        }
    }
}
