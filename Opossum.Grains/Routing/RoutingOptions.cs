namespace Opossum.Grains.Routing;

/// <summary>Which model answers when the first choice cannot (section <c>Opossum:Routing</c>).</summary>
public sealed class RoutingOptions
{
    public const string Section = "Opossum:Routing";

    /// <summary>Model names in the order they are tried. Empty: Gemini models first, then Ollama models, then the rest, each in configuration order.</summary>
    public List<string> FallbackOrder { get; set; } = [];

    /// <summary>How many other models are tried after the first choice fails.</summary>
    public int MaxFallbacks { get; set; } = 2;

    /// <summary>What makes these settings unusable, one sentence each; none when they are fine.</summary>
    public IEnumerable<string> Problems()
    {
        if (MaxFallbacks < 0) yield return $"{Section}:MaxFallbacks must not be negative.";
    }
}
