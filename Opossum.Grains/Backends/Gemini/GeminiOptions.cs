namespace Opossum.Grains.Backends.Gemini;

/// <summary>Gemini's REST API (section <c>Backends:Gemini</c>, env <c>GEMINI_API_KEY</c>, <c>GEMINI_BASE_URL</c>).</summary>
public sealed class GeminiOptions
{
    public const string Section = "Backends:Gemini";

    public Uri BaseUrl { get; set; } = new("https://generativelanguage.googleapis.com");

    /// <summary>Sent only in the <c>x-goog-api-key</c> header; Gemini is disabled when it is not set.</summary>
    public string? ApiKey { get; set; }

    public TimeSpan RequestTimeout { get; set; } = TimeSpan.FromSeconds(60);

    public TimeSpan CheckTimeout { get; set; } = TimeSpan.FromSeconds(2);

    public bool Enabled => !string.IsNullOrWhiteSpace(ApiKey);

    // The key must never reach a log through an options dump.
    public override string ToString() => $"Gemini {{ BaseUrl = {BaseUrl}, ApiKey = {(Enabled ? "[set]" : "[not set]")} }}";
}
