namespace Opossum.Grains;

/// <summary>Names of the Orleans providers the grains use.</summary>
public static class ProviderNames
{
    /// <summary>Grain storage for service availability and anything else without an expiry.</summary>
    public const string Storage = "opossum";

    /// <summary>Grain storage for conversations (idle expiry; bounded in number in memory).</summary>
    public const string ConversationStorage = "opossum-conversations";

    /// <summary>Grain storage for response cache entries (expires with the cache TTL in Redis).</summary>
    public const string CacheStorage = "opossum-cache";

    /// <summary>Key of the <see cref="TimeProvider"/> the grains read time from (Orleans keeps the unkeyed one for itself).</summary>
    public const string Clock = "opossum";
}
