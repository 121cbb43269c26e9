namespace Opossum.Grains.Caching;

/// <summary>Response cache settings (section <c>Opossum:Cache</c>).</summary>
public sealed class CacheOptions
{
    public const string Section = "Opossum:Cache";

    /// <summary>How long an answer stays fresh.</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromSeconds(600);
}
