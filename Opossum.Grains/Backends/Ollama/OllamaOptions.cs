namespace Opossum.Grains.Backends.Ollama;

/// <summary>Where Ollama is and how long to wait for it (section <c>Backends:Ollama</c>, env <c>OLLAMA_BASE_URL</c>).</summary>
public sealed class OllamaOptions
{
    public const string Section = "Backends:Ollama";

    public Uri BaseUrl { get; set; } = new("http://localhost:11434");

    /// <summary>Longest wait for one generation.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Longest wait for an availability check (<c>GET /api/tags</c>).</summary>
    public TimeSpan CheckTimeout { get; set; } = TimeSpan.FromSeconds(2);
}
