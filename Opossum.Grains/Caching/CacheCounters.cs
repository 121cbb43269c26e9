using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using static Opossum.Grains.Telemetry.OpossumTelemetry;

namespace Opossum.Grains.Caching;

/// <summary>
/// Counts cache hits and misses everywhere they are read: the process's OpenTelemetry counters, the
/// cluster-wide stats grain (for <c>cacheStats</c>) and, when Redis is configured, the aggregated
/// Redis counters <c>metrics:cache:hits</c> / <c>metrics:cache:misses</c>.
/// </summary>
public sealed class CacheCounters(IGrainFactory grains, IServiceProvider services)
{
    public const string RedisHits = "metrics:cache:hits";
    public const string RedisMisses = "metrics:cache:misses";

    private readonly IConnectionMultiplexer? _redis = services.GetService<IConnectionMultiplexer>();

    public void Record(bool hit)
    {
        (hit ? CacheHits : CacheMisses).Add(1);
        grains.GetGrain<ICacheStatsGrain>(0).Record(hit).Ignore();
        _redis?.GetDatabase().StringIncrement(hit ? RedisHits : RedisMisses, flags: CommandFlags.FireAndForget);
    }
}
