namespace Opossum.Grains.Caching;

/// <summary>Response cache settings (section <c>Opossum:Cache</c>).</summary>
public sealed class CacheOptions
{
    public const string Section = "Opossum:Cache";

    /// <summary>How long an answer stays fresh.</summary>
    public TimeSpan Ttl { get; set; } = TimeSpan.FromSeconds(600);

    /// <summary>Answers each silo keeps a copy of, to answer repeats without a call to the cache grain; 0 turns the copies off.</summary>
    public int LocalEntries { get; set; } = 10_000;

    /// <summary>What makes these settings unusable, one sentence each; none when they are fine.</summary>
    public IEnumerable<string> Problems()
    {
        if (Ttl <= TimeSpan.Zero) yield return $"{Section}:Ttl must be positive.";
        if (LocalEntries < 0) yield return $"{Section}:LocalEntries must not be negative.";
    }
}
