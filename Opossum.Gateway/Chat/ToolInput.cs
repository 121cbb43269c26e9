using System.Text.Json;
using System.Text.RegularExpressions;
using Opossum.Grains;
using Opossum.Grains.Output;

namespace Opossum.Gateway.Chat;

/// <summary>
/// What every door checks the same way in the tools and schemas a client sends, naming the door's param: a function's name,
/// and a JSON Schema, kept as the client wrote it once JsonSchema.Net has built it (what reaches the backend is what was checked).
/// </summary>
public static partial class ToolInput
{
    /// <summary>The parameters of a function that declares none: an object without properties.</summary>
    public const string NoParameters = """{"type":"object","properties":{}}""";

    [GeneratedRegex("^[a-zA-Z0-9_-]{1,64}$")]
    private static partial Regex FunctionName();

    /// <summary><paramref name="name"/> when it is a function's name as OpenAI and Ollama take them: 1 to 64 letters, digits, underscores or dashes.</summary>
    public static string Name(string? name, string param) => name switch
    {
        null or "" => throw OpossumException.BadInput($"{param} is required.", param),
        _ when !FunctionName().IsMatch(name) => throw OpossumException.BadInput($"{param} must be 1 to 64 letters, digits, underscores or dashes.", param),
        _ => name,
    };

    /// <summary>The JSON Schema object <paramref name="schema"/> as text; BAD_USER_INPUT naming <paramref name="param"/> when it is not one.</summary>
    public static string Schema(JsonElement schema, string param)
    {
        if (schema.ValueKind != JsonValueKind.Object)
            throw OpossumException.BadInput($"{param} must be a JSON Schema object.", param);
        var text = schema.GetRawText();
        JsonSchemas.Parse(text, param);
        return text;
    }
}
