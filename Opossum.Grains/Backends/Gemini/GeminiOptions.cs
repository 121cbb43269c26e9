namespace Opossum.Grains.Backends.Gemini;

/// <summary>Gemini's REST API (section <c>Backends:Gemini</c>, env <c>GEMINI_API_KEY</c>, <c>GEMINI_BASE_URL</c>).</summary>
public sealed class GeminiOptions
{
    public const string Section = "Backends:Gemini";

    public Uri BaseUrl { get; set; } = new("https://generativelanguage.googleapis.com");

    /// <summary>Sent only in the <c>x-goog-api-key</c> header; Gemini is disabled when it is not set.</summary>
    public string? ApiKey { get; set; }

    /// <summary>Generations sent to the API at once in the whole cluster: a cloud API takes many; the key's quota answers 429 beyond it.</summary>
    public int Parallelism { get; set; } = 100;

    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Longest wait for a free slot when all are busy.</summary>
    public TimeSpan QueueTimeout { get; set; } = TimeSpan.FromSeconds(30);

    public TimeSpan CheckTimeout { get; set; } = TimeSpan.FromSeconds(2);

    public bool Enabled => !string.IsNullOrWhiteSpace(ApiKey);

    public IReadOnlyList<BackendServer> Servers => [new BackendServer(0, BaseUrl, Parallelism)];

    // The key must never reach a log through an options dump.
    public override string ToString() => $"Gemini {{ BaseUrl = {BaseUrl}, ApiKey = {(Enabled ? "[set]" : "[not set]")} }}";

    /// <summary>What makes these settings unusable, one sentence each; none when they are fine.</summary>
    public IEnumerable<string> Problems()
    {
        if (!BaseUrl.IsAbsoluteUri || BaseUrl.Scheme is not ("http" or "https")) yield return "GEMINI_BASE_URL must be an absolute http(s) URL.";
        if (Parallelism <= 0) yield return $"{Section}:Parallelism must be at least 1.";
        if (RequestTimeout <= TimeSpan.Zero) yield return $"{Section}:RequestTimeout must be positive.";
        if (QueueTimeout <= TimeSpan.Zero) yield return $"{Section}:QueueTimeout must be positive.";
        if (CheckTimeout <= TimeSpan.Zero) yield return $"{Section}:CheckTimeout must be positive.";
    }
}
