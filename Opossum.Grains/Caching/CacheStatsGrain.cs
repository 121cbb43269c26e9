namespace Opossum.Grains.Caching;

/// <summary>Cluster-wide hit/miss counts for <c>cacheStats</c>; counters only, so losing them on a restart costs nothing.</summary>
public sealed class CacheStatsGrain : Grain, ICacheStatsGrain
{
    private long _hits;
    private long _misses;

    public Task Record(bool hit)
    {
        if (hit) _hits++;
        else _misses++;
        return Task.CompletedTask;
    }

    public Task<CacheCounts> Get() => Task.FromResult(new CacheCounts(_hits, _misses));
}
