using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;
using static Opossum.Grains.Telemetry.OpossumTelemetry;

namespace Opossum.Grains.Caching;

/// <summary>
/// Counts cache hits and misses everywhere they are read: the process's OpenTelemetry counters (at
/// once), and — batched once a second so the hit path makes no extra grain call or Redis round trip —
/// the cluster-wide stats grain (for <c>cacheStats</c>) and, when Redis is configured, the aggregated
/// Redis counters <c>metrics:cache:hits</c> / <c>metrics:cache:misses</c>.
/// </summary>
public sealed class CacheCounters : IAsyncDisposable
{
    public const string RedisHits = "metrics:cache:hits";
    public const string RedisMisses = "metrics:cache:misses";
    public static readonly TimeSpan FlushPeriod = TimeSpan.FromSeconds(1);

    private readonly IGrainFactory _grains;
    private readonly IConnectionMultiplexer? _redis;
    private readonly ILogger<CacheCounters> _logger;
    private readonly PeriodicTimer _timer = new(FlushPeriod);
    private readonly Task _flushing;
    private readonly SemaphoreSlim _oneFlush = new(1, 1);
    private long _hits;
    private long _misses;

    public CacheCounters(IGrainFactory grains, IServiceProvider services, ILogger<CacheCounters> logger)
    {
        _grains = grains;
        _redis = services.GetService<IConnectionMultiplexer>();
        _logger = logger;
        _flushing = FlushPeriodicallyAsync();
    }

    /// <summary>Starts the <c>cache.get</c> span of a lookup of <paramref name="key"/> in <paramref name="layer"/> (<c>silo</c> or <c>grain</c>).</summary>
    public static Activity? StartLookup(string key, string layer)
    {
        var lookup = Source.StartActivity(Spans.CacheGet);
        lookup?.SetTag(Tags.CacheKey, key);
        lookup?.SetTag(Tags.CacheLayer, layer);
        return lookup;
    }

    /// <summary>The outcome of a lookup: on its span, and counted.</summary>
    public void Record(Activity? lookup, bool hit)
    {
        lookup?.SetTag(Tags.CacheHit, hit);
        (hit ? CacheHits : CacheMisses).Add(1);
        Interlocked.Increment(ref hit ? ref _hits : ref _misses);
    }

    private async Task FlushPeriodicallyAsync()
    {
        while (await _timer.WaitForNextTickAsync())
            await FlushAsync();
    }

    /// <summary>
    /// Sends the counts gathered so far, as the next tick would (tests read the totals after it instead of waiting a
    /// tick). One flush at a time: a flush that finds nothing to send returns only after one that took counts has sent them.
    /// </summary>
    public async Task FlushAsync()
    {
        await _oneFlush.WaitAsync();
        try
        {
            await SendAsync(Interlocked.Exchange(ref _hits, 0), Interlocked.Exchange(ref _misses, 0));
        }
        finally
        {
            _oneFlush.Release();
        }
    }

    private async Task SendAsync(long hits, long misses)
    {
        if (hits == 0 && misses == 0) return;
        try
        {
            await _grains.GetGrain<ICacheStatsGrain>(0).Add(hits, misses);
            if (_redis is not null)
            {
                var db = _redis.GetDatabase();
                if (hits > 0) db.StringIncrement(RedisHits, hits, CommandFlags.FireAndForget);
                if (misses > 0) db.StringIncrement(RedisMisses, misses, CommandFlags.FireAndForget);
            }
        }
        catch (Exception ex) when (ex is OrleansException or TimeoutException or RedisException)
        {
            // Put them back: the next flush tries again.
            Interlocked.Add(ref _hits, hits);
            Interlocked.Add(ref _misses, misses);
            _logger.LogWarning("Could not flush cache counters: {Reason}", ex.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        _timer.Dispose();
        await _flushing;
        try
        {
            await FlushAsync();
        }
        catch (ObjectDisposedException)
        {
            // The silo is already gone at shutdown: these last counts die with the process's own counters.
        }
    }
}
