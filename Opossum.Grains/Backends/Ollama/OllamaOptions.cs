namespace Opossum.Grains.Backends.Ollama;

/// <summary>Where the Ollama servers are and how long to wait for them (section <c>Backends:Ollama</c>, env <c>OLLAMA_BASE_URL</c>, <c>OLLAMA_PARALLELISM</c>).</summary>
public sealed class OllamaOptions
{
    public const string Section = "Backends:Ollama";

    /// <summary>One server's URL, or several separated by commas: generations are balanced across them.</summary>
    public string BaseUrl { get; set; } = "http://localhost:11434";

    /// <summary>Generations one server runs at once in the whole cluster (Ollama's own OLLAMA_NUM_PARALLEL): one number, or one per server.</summary>
    public string Parallelism { get; set; } = "4";

    /// <summary>Longest wait for one generation.</summary>
    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Longest wait for a free slot when every server is busy.</summary>
    public TimeSpan QueueTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Longest wait for an availability check (<c>GET /api/tags</c>).</summary>
    public TimeSpan CheckTimeout { get; set; } = TimeSpan.FromSeconds(2);

    public IReadOnlyList<BackendServer> Servers => _servers ??= BackendServer.Parse(BaseUrl, Parallelism, UrlSetting, ParallelismSetting);
    private IReadOnlyList<BackendServer>? _servers;

    private const string UrlSetting = "OLLAMA_BASE_URL";
    private const string ParallelismSetting = "OLLAMA_PARALLELISM";

    /// <summary>What makes these settings unusable, one sentence each; none when they are fine.</summary>
    public IEnumerable<string> Problems()
    {
        if (RequestTimeout <= TimeSpan.Zero) yield return $"{Section}:RequestTimeout must be positive.";
        if (QueueTimeout <= TimeSpan.Zero) yield return $"{Section}:QueueTimeout must be positive.";
        if (CheckTimeout <= TimeSpan.Zero) yield return $"{Section}:CheckTimeout must be positive.";
        if (BackendServer.Problem(BaseUrl, Parallelism, UrlSetting, ParallelismSetting, out _) is { } servers) yield return servers;
    }
}
