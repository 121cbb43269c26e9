using System.Text.Json;
using System.Text.RegularExpressions;
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
            // The schema keeps the elements it was built from: an element parsed on its own has no document to outlive.
            var root = JsonElement.Parse(text);
            if (root.ValueKind is not (JsonValueKind.Object or JsonValueKind.True or JsonValueKind.False))
                throw OpossumException.BadInput($"{param} must be a JSON Schema: an object (or true/false), not {Describe(root.ValueKind)}.", param);
            // References resolve when the schema is used: each is checked now, so that one that cannot resolve is the request's error.
            if (References(root).FirstOrDefault(r => !Resolves(root, r)) is { } unresolved)
                throw OpossumException.BadInput(
                    $"{param} refers to '{unresolved}', which it does not contain: only references inside the schema (\"#/$defs/...\") are followed, nothing is fetched.", param);
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

    }

    /// <summary>
    /// What in <paramref name="json"/> does not match <paramref name="schema"/>: in words for the caller, and where (JSON Pointers,
    /// "" for the whole value; never values) for telemetry. Null when it matches. A pattern that takes longer than the process's
    /// match timeout (<c>StartupGuard.RegexMatchTimeout</c>) is a mismatch: a schema cannot hold a core for ever.
    /// </summary>
    public static SchemaProblems? Problems(JsonSchema schema, string json)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(json);
        }
        catch (JsonException ex)
        {
            return new SchemaProblems($"it is not JSON ({ex.Message})", [""]);
        }
        using (document)
        {
            EvaluationResults results;
            try
            {
                results = schema.Evaluate(document.RootElement, new EvaluationOptions { OutputFormat = Json.Schema.OutputFormat.List });
            }
            catch (JsonSchemaException ex)
            {
                return new SchemaProblems($"the schema could not be applied ({ex.Message})", [""]);
            }
            catch (RegexMatchTimeoutException ex)
            {
                return new SchemaProblems($"a pattern of the schema took longer than {ex.MatchTimeout.TotalSeconds:0.#} s to match", [""]);
            }
            if (results.IsValid)
                return null;
            var failed = (results.Details ?? []).Where(d => d.Errors is { Count: > 0 }).ToList();
            var problems = failed.SelectMany(d => d.Errors!.Select(e => $"{Location(d.InstanceLocation.ToString())}: {e.Value}")).Distinct().ToList();
            var paths = failed.Select(d => d.InstanceLocation.ToString().TrimStart('#')).Distinct().DefaultIfEmpty("").ToList();
            if (problems.Count == 0)
                return new SchemaProblems("it does not match the schema", paths);
            var listed = string.Join("; ", problems.Take(ProblemsListed));
            return new SchemaProblems(problems.Count > ProblemsListed ? $"{listed}; and {problems.Count - ProblemsListed} more" : listed, paths);
        }
    }

    private static IEnumerable<string> References(JsonElement element)
    {
        if (element.ValueKind == JsonValueKind.Object)
        {
            foreach (var property in element.EnumerateObject())
            {
                if (property.Name is "$ref" or "$dynamicRef" && property.Value.ValueKind == JsonValueKind.String)
                    yield return property.Value.GetString()!;
                foreach (var inner in References(property.Value))
                    yield return inner;
            }
        }
        else if (element.ValueKind == JsonValueKind.Array)
        {
            foreach (var item in element.EnumerateArray())
            foreach (var inner in References(item))
                yield return inner;
        }
    }

    // "#" (the whole schema), a JSON Pointer into it ("#/$defs/leg"), or an anchor it declares ("#leg").
    private static bool Resolves(JsonElement root, string reference)
    {
        if (reference == "#") return true;
        if (!reference.StartsWith('#')) return false;
        if (!reference.StartsWith("#/", StringComparison.Ordinal))
            return Anchors(root).Contains(reference[1..]);
        var at = root;
        foreach (var raw in reference[2..].Split('/'))
        {
            var token = Uri.UnescapeDataString(raw).Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal);
            if (at.ValueKind == JsonValueKind.Object && at.TryGetProperty(token, out var next))
                at = next;
            else if (at.ValueKind == JsonValueKind.Array && int.TryParse(token, out var index) && index >= 0 && index < at.GetArrayLength())
                at = at[index];
            else
                return false;
        }
        return true;
    }

    private static IEnumerable<string> Anchors(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.Object => element.EnumerateObject().SelectMany(p =>
            p.Name is "$anchor" or "$dynamicAnchor" && p.Value.ValueKind == JsonValueKind.String ? [p.Value.GetString()!] : Anchors(p.Value)),
        JsonValueKind.Array => element.EnumerateArray().SelectMany(Anchors),
        _ => [],
    };

    private static string Location(string pointer) => pointer is "" or "#" ? "the value" : pointer;

    private static string Describe(JsonValueKind kind) => kind switch
    {
        JsonValueKind.Array => "an array",
        JsonValueKind.String => "a string",
        JsonValueKind.Number => "a number",
        _ => "null",
    };
}

/// <summary>What did not match a schema: <see cref="Words"/> for the caller, <see cref="Paths"/> (JSON Pointers: where, never what) for telemetry.</summary>
public sealed record SchemaProblems(string Words, IReadOnlyList<string> Paths);
