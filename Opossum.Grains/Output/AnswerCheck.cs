using System.Text.Json;
using Json.Schema;

namespace Opossum.Grains.Output;

/// <summary>
/// Whether a model's answer is what a checked request (<see cref="GenerationOptions.IsChecked"/>) asked for: its text against the
/// strict format's schema, each call to a strict function's arguments against that function's parameters, and every call to a
/// function that was offered. Built once per generation from the request's options; the schemas were checked when the request arrived.
/// </summary>
public sealed class AnswerCheck
{
    private readonly JsonSchema? _format;
    private readonly Dictionary<string, JsonSchema?> _functions = new(StringComparer.Ordinal);

    private AnswerCheck(GenerationOptions options)
    {
        if (options.Format is { Strict: true, Schema: { } schema })
            _format = JsonSchemas.Parse(schema, "format");
        foreach (var tool in options.Tools ?? [])
            _functions[tool.Name] = tool.Strict ? JsonSchemas.Parse(tool.Parameters, tool.Name) : null;
    }

    /// <summary>The check of a request's answers, or null when its options ask for none.</summary>
    public static AnswerCheck? For(GenerationOptions? options) => options is { IsChecked: true } ? new AnswerCheck(options) : null;

    /// <summary>What in <paramref name="generation"/> does not conform, or null when it all does.</summary>
    public AnswerProblems? Problems(Generation generation)
    {
        var words = new List<string>();
        var paths = new List<string>();
        var calls = generation.ToolCalls ?? [];
        // An answer of tool calls alone is not the structured answer yet: that comes once their results are sent back.
        if (_format is not null && (calls.Count == 0 || !string.IsNullOrWhiteSpace(generation.Content))
            && JsonSchemas.Problems(_format, generation.Content) is { } content)
        {
            words.Add($"the answer: {content}");
            paths.AddRange(Locations(_format, generation.Content).Select(l => "content" + l));
        }
        for (var i = 0; i < calls.Count; i++)
        {
            var call = calls[i];
            if (!_functions.TryGetValue(call.Name, out var parameters))
            {
                words.Add($"a call to '{call.Name}', a function that was not offered");
                paths.Add($"tool_calls[{i}].name");
            }
            else if (parameters is not null && JsonSchemas.Problems(parameters, call.Arguments) is { } arguments)
            {
                words.Add($"the arguments of the call to '{call.Name}': {arguments}");
                paths.AddRange(Locations(parameters, call.Arguments).Select(l => $"tool_calls[{i}].arguments{l}"));
            }
        }
        return words.Count == 0 ? null : new AnswerProblems(string.Join("; ", words), paths.Distinct().ToList());
    }

    // Where in the JSON the schema failed, as JSON Pointers ("" for the whole value): for telemetry, which records no values.
    private static IEnumerable<string> Locations(JsonSchema schema, string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException)
        {
            return [""];
        }
        using (document)
        {
            EvaluationResults results;
            try
            {
                results = schema.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = Json.Schema.OutputFormat.List });
            }
            catch (JsonSchemaException)
            {
                return [""];
            }
            var failed = (results.Details ?? []).Where(d => d.Errors is { Count: > 0 }).Select(d => d.InstanceLocation.ToString()).Distinct().ToList();
            return failed.Count == 0 ? [""] : failed.Select(l => l.TrimStart('#'));
        }
    }
}

/// <summary>What did not conform: <see cref="Words"/> for the caller, <see cref="Paths"/> (where, never what) for telemetry.</summary>
public sealed record AnswerProblems(string Words, IReadOnlyList<string> Paths);
