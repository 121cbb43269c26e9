using System.Text.Json;
using Json.Schema;

namespace Opossum.Grains.Output;

/// <summary>
/// JSON Schemas that clients send (a structured answer's, a function's parameters): built when a request arrives, so a schema that
/// is not one is refused before any backend call, and used to check what a model wrote. JsonSchema.Net does the work; every schema
/// is built in a registry of its own, so one caller's <c>$id</c> is never another's <c>$ref</c>, and nothing is fetched.
/// </summary>
public static class JsonSchemas
{
    /// <summary>How many problems an error lists; the rest are counted.</summary>
    private const int ProblemsListed = 3;

    /// <summary>The schema in <paramref name="text"/>; BAD_USER_INPUT naming <paramref name="param"/> when it is not JSON or not a valid JSON Schema.</summary>
    public static JsonSchema Parse(string text, string param)
    {
        try
        {
            // The schema keeps the elements it was built from: a clone outlives the parsed document.
            JsonElement root;
            using (var document = JsonDocument.Parse(text))
                root = document.RootElement.Clone();
            if (root.ValueKind is not (JsonValueKind.Object or JsonValueKind.True or JsonValueKind.False))
                throw OpossumException.BadInput($"{param} must be a JSON Schema: an object (or true/false), not {Describe(root.ValueKind)}.", param);
            return JsonSchema.Build(root, new BuildOptions { SchemaRegistry = new SchemaRegistry() });
        }
        catch (JsonException ex)
        {
            throw OpossumException.BadInput($"{param} is not valid JSON: {ex.Message}", param);
        }
        catch (JsonSchemaException ex)
        {
            throw OpossumException.BadInput($"{param} is not a valid JSON Schema: {ex.Message}", param);
        }
        catch (RefResolutionException ex)
        {
            // Only references inside the schema resolve: nothing is fetched.
            throw OpossumException.BadInput($"{param} refers to a schema it does not contain: {ex.Message}", param);
        }
    }

    /// <summary>What in <paramref name="json"/> does not match <paramref name="schema"/>, in words; null when it matches.</summary>
    public static string? Problems(JsonSchema schema, string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            return $"it is not JSON ({ex.Message})";
        }
        using (document)
        {
            var results = schema.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = Json.Schema.OutputFormat.List });
            if (results.IsValid)
                return null;
            var problems = (results.Details ?? [])
                .Where(d => d.Errors is { Count: > 0 })
                .SelectMany(d => d.Errors!.Select(e => $"{Location(d.InstanceLocation.ToString())}: {e.Value}"))
                .Distinct()
                .ToList();
            if (problems.Count == 0)
                return "it does not match the schema";
            var listed = string.Join("; ", problems.Take(ProblemsListed));
            return problems.Count > ProblemsListed ? $"{listed}; and {problems.Count - ProblemsListed} more" : listed;
        }
    }

    private static string Location(string pointer) => pointer is "" or "#" ? "the value" : pointer;

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        _ => "null",
    };
}
