using System.Text.Json;
using System.Text.Json.Nodes;

namespace Opossum.Testing.Backends;

/// <summary>
/// What the fake backends answer a request that offers tools or asks for JSON, the same on both: tool calls to the functions
/// offered, in order, with the arguments a test set; JSON that a test set, or that echoes the prompt.
/// </summary>
public static class ToolAnswers
{
    /// <summary>
    /// <paramref name="count"/> calls to <paramref name="functions"/> in order (cycling), each with its arguments from
    /// <paramref name="arguments"/> (JSON object text; <c>{}</c> when absent).
    /// </summary>
    public static IReadOnlyList<(string Name, JsonNode Arguments)> Calls(IReadOnlyList<string> functions, int count, IReadOnlyDictionary<string, string> arguments) =>
        Enumerable.Range(0, Math.Max(count, 1))
            .Select(i => functions[i % functions.Count])
            .Select(name => (name, JsonNode.Parse(arguments.GetValueOrDefault(name, "{}"))!))
            .ToList();

    /// <summary>The answer of <paramref name="answers"/> for the first key the prompt contains, else <c>{"echo":"{prompt}"}</c>.</summary>
    public static string Json(string prompt, IEnumerable<KeyValuePair<string, string>> answers) =>
        answers.Where(a => prompt.Contains(a.Key, StringComparison.Ordinal)).Select(a => a.Value).FirstOrDefault()
        ?? JsonSerializer.Serialize(new { echo = prompt });
}
