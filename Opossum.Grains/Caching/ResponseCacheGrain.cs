using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using static Opossum.Grains.Telemetry.OpossumTelemetry;

namespace Opossum.Grains.Caching;

/// <summary>Stored answer of one cache entry.</summary>
[GenerateSerializer]
public sealed class CacheEntryState
{
    [Id(0)] public Generation? Generation { get; set; }
    [Id(1)] public DateTimeOffset ExpiresAt { get; set; }
}

/// <summary>
/// One cache entry. Deliberately not reentrant: identical requests that arrive while the first is
/// generating wait in the grain's queue and are then answered from the fresh entry, so N
/// concurrent identical chats make one backend call.
/// </summary>
public sealed class ResponseCacheGrain(
    [PersistentState("cache", ProviderNames.CacheStorage)] IPersistentState<CacheEntryState> entry,
    IOptions<CacheOptions> options,
    [FromKeyedServices(ProviderNames.Clock)] TimeProvider time) : Grain, IResponseCacheGrain
{
    public async Task<CachedGeneration> GetOrGenerate(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        if (Lookup() is { } cached)
            return new CachedGeneration(cached, FromCache: true);

        var generation = await GrainFactory.GetGrain<IModelGrain>(request.Model).Generate(request, cancellationToken);
        entry.State.Generation = generation;
        entry.State.ExpiresAt = time.GetUtcNow() + options.Value.Ttl;
        await entry.WriteStateAsync();
        return new CachedGeneration(generation, FromCache: false);
    }

    // The cache.get span covers the lookup only; on a miss the generation is its sibling, not its child.
    private Generation? Lookup()
    {
        using var activity = Source.StartActivity(Spans.CacheGet);
        activity?.SetTag(Tags.CacheKey, this.GetPrimaryKeyString());
        var hit = entry.State.Generation is not null && entry.State.ExpiresAt > time.GetUtcNow();
        activity?.SetTag(Tags.CacheHit, hit);
        (hit ? CacheHits : CacheMisses).Add(1);
        GrainFactory.GetGrain<ICacheStatsGrain>(0).Record(hit).Ignore();
        return hit ? entry.State.Generation : null;
    }
}
