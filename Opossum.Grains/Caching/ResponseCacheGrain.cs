using Microsoft.Extensions.DependencyInjection;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Opossum.Grains.Telemetry;
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
    CacheCounters counters,
    ILogger<ResponseCacheGrain> logger,
    [FromKeyedServices(ProviderNames.Clock)] TimeProvider time) : Grain, IResponseCacheGrain
{
    private Task _pendingWrite = Task.CompletedTask;

    public async Task<CachedGeneration> GetOrGenerate(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        if (Lookup() is { } cached)
            return new CachedGeneration(cached, FromCache: true, entry.State.ExpiresAt);

        var generation = await GrainFactory.GetGrain<IModelGrain>(request.Model).Generate(request, cancellationToken);
        await _pendingWrite;
        entry.State.Generation = generation;
        entry.State.ExpiresAt = time.GetUtcNow() + options.Value.Ttl;
        // The activation answers from memory at once; persisting the entry happens behind the response, in the request's trace.
        _pendingWrite = BackgroundWork.Run("cache.write", WriteEntryAsync);
        return new CachedGeneration(generation, FromCache: false, entry.State.ExpiresAt);
    }

    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) => _pendingWrite;

    private async Task WriteEntryAsync()
    {
        try
        {
            await entry.WriteStateAsync();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // A lost write costs one regeneration elsewhere, never an answer: the entry is still served from memory here.
            logger.LogWarning(ex, "Could not persist cache entry {Key}", this.GetPrimaryKeyString());
        }
    }

    // The cache.get span covers the lookup only; on a miss the generation is its sibling, not its child.
    private Generation? Lookup()
    {
        using var lookup = CacheCounters.StartLookup(this.GetPrimaryKeyString(), "grain");
        var hit = entry.State.Generation is not null && entry.State.ExpiresAt > time.GetUtcNow();
        counters.Record(lookup, hit);
        return hit ? entry.State.Generation : null;
    }
}
