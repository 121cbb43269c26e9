namespace Opossum.Grains.Caching;

/// <summary>Cluster-wide hit/miss counts for <c>cacheStats</c>; counters only, so losing them on a restart costs nothing.</summary>
public sealed class CacheStatsGrain : Grain, ICacheStatsGrain
{
    private long _hits;
    private long _misses;

    public Task Add(long hits, long misses)
    {
        _hits += hits;
        _misses += misses;
        return Task.CompletedTask;
    }

    public Task<CacheCounts> Get() => Task.FromResult(new CacheCounts(_hits, _misses));
}
