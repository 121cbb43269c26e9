namespace Opossum.Grains;

/// <summary>One configured model: the backend that serves it and the name the backend knows it by.</summary>
public sealed class ModelDefinition
{
    public string Name { get; set; } = "";
    public string Backend { get; set; } = "";
    private string? _apiName;

    /// <summary>The backend's name for the model; the model's own name when unset.</summary>
    public string ApiName { get => string.IsNullOrWhiteSpace(_apiName) ? Name : _apiName; set => _apiName = value; }
    public bool SupportsImages { get; set; }

    /// <summary>The model can be offered tools (functions) and call them.</summary>
    public bool SupportsTools { get; set; }

    /// <summary>The model can be asked for JSON, and for JSON matching a schema (structured output).</summary>
    public bool SupportsSchemas { get; set; }
}

/// <summary>The configured models (array <c>Models</c>) and the default one; shared by silos and gateways.</summary>
public sealed class ModelCatalogOptions
{

    /// <summary>The configured models, in configuration order.</summary>
    public List<ModelDefinition> Models { get; set; } = [];

    /// <summary>The model used when a request names none; unset, the router picks the first model of an enabled backend in fallback order.</summary>
    public string? DefaultModel { get; set; }

    public ModelDefinition? Find(string name) => Models.FirstOrDefault(m => string.Equals(m.Name, name, StringComparison.Ordinal));

    /// <summary>The distinct backends the configured models use.</summary>
    public IReadOnlyList<string> Backends => Models.Select(m => m.Backend).Distinct(StringComparer.Ordinal).ToList();

    /// <summary>Problems that make the catalog unusable, given the backends that exist; empty when valid.</summary>
    public IEnumerable<string> Validate(IReadOnlyCollection<string> knownBackends)
    {
        if (Models.Count == 0) yield return "No models are configured: add at least one entry to 'Models'.";
        foreach (var m in Models)
        {
            if (string.IsNullOrWhiteSpace(m.Name)) yield return "A model in 'Models' has no Name.";
            if (string.IsNullOrWhiteSpace(m.Backend)) yield return $"Model '{m.Name}' has no Backend.";
            else if (!knownBackends.Contains(m.Backend, StringComparer.Ordinal))
                yield return $"Model '{m.Name}' has backend '{m.Backend}'; known backends: {string.Join(", ", knownBackends)}.";
        }
        foreach (var dup in Models.GroupBy(m => m.Name).Where(g => g.Count() > 1))
            yield return $"Model '{dup.Key}' is configured more than once.";
        if (!string.IsNullOrWhiteSpace(DefaultModel) && Find(DefaultModel) is null)
            yield return $"OPOSSUM_DEFAULT_MODEL '{DefaultModel}' is not a configured model.";
    }
}

/// <summary>The backends this build speaks to, by the name models, metrics and errors use.</summary>
public static class BackendNames
{
    public const string Ollama = "ollama";
    public const string Gemini = "gemini";

    /// <summary>Every backend this build knows, enabled or not.</summary>
    public static readonly IReadOnlyList<string> All = [Ollama, Gemini];
}
