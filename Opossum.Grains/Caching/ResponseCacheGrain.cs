using Microsoft.Extensions.DependencyInjection;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Opossum.Grains.Backends;
using Opossum.Grains.Telemetry;
using Orleans.Concurrency;

namespace Opossum.Grains.Caching;

/// <summary>Stored answer of one cache entry.</summary>
[GenerateSerializer]
public sealed class CacheEntryState
{
    [Id(0)] public Generation? Generation { get; set; }
    [Id(1)] public DateTimeOffset ExpiresAt { get; set; }
}

/// <summary>
/// One cache entry. A fresh answer is served from memory; otherwise one generation is in flight at a
/// time (<see cref="SharedGeneration"/>) and every caller that asks meanwhile, streamed or not, shares
/// it: N concurrent identical chats make one backend call, and a stream that joins late gets what was
/// written so far, then the rest. Reentrant so that callers can join while a generation runs; every
/// turn is short and single-threaded, so no state is shared across threads.
/// </summary>
[Reentrant]
public sealed class ResponseCacheGrain(
    [PersistentState("cache", ProviderNames.CacheStorage)] IPersistentState<CacheEntryState> entry,
    IOptions<CacheOptions> options,
    CacheCounters counters,
    ILogger<ResponseCacheGrain> logger,
    [FromKeyedServices(ProviderNames.Clock)] TimeProvider time) : Grain, IResponseCacheGrain
{
    private Task _pendingWrite = Task.CompletedTask;
    private SharedGeneration? _inFlight;

    public async Task<CachedGeneration> GetOrGenerate(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        if (Lookup() is { } cached)
            return new CachedGeneration(cached, Cached: true, entry.State.ExpiresAt);
        var (generation, joined) = Join(request, stream: false);
        var answer = await BackendCall.CollectAsync(generation.ReadAsync(!joined, cancellationToken));
        var forAnother = GeneratedForAnother(generation, joined);
        return new CachedGeneration(answer, Cached: forAnother, entry.State.ExpiresAt, Joined: forAnother);
    }

    public async IAsyncEnumerable<GenerationChunk> Stream(GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        if (Lookup() is { } cached)
        {
            yield return new GenerationChunk(cached.Content, cached, Cached: true, entry.State.ExpiresAt);
            yield break;
        }
        var (generation, joined) = Join(request, stream: true);
        await foreach (var chunk in generation.ReadAsync(!joined, cancellationToken))
            yield return chunk.Completed is not null ? chunk with { Cached = GeneratedForAnother(generation, joined), Joined = GeneratedForAnother(generation, joined), ExpiresAt = entry.State.ExpiresAt }
                : joined ? chunk with { Cached = true, Joined = true }
                : chunk;
    }

    // A generation in flight is not waited for: its callers' calls fail with the activation and are retried elsewhere,
    // while waiting could hold a stopping silo for as long as a generation takes.
    public override Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken) => _pendingWrite;

    // The generation in flight, or a new one; joined: another caller started it, so this one's answer is not generated for it.
    // A chat starts one that asks the server for the answer whole: a stream that joins it gets the answer in one piece.
    private (SharedGeneration Generation, bool Joined) Join(GenerationRequest request, bool stream)
    {
        if (_inFlight is { Abandoned: false } running)
            return (running, true);
        var model = GrainFactory.GetGrain<IModelGrain>(request.Model);
        var started = new SharedGeneration(stream ? token => model.Stream(request, token) : token => Whole(model, request, token), Keep);
        _inFlight = started;
        started.Completion.ContinueWith(_ => { if (_inFlight == started) _inFlight = null; }, TaskScheduler.Current).Ignore();
        return (started, false);
    }

    // A joiner's answer was generated for the caller that started it, unless that one left before the end: then the rest was
    // generated for the joiners, who pay for it (leaving must not make an answer free for another request, or key).
    private static bool GeneratedForAnother(SharedGeneration generation, bool joined) => joined && !generation.LeftByItsStarter;

    private static async IAsyncEnumerable<GenerationChunk> Whole(IModelGrain model, GenerationRequest request, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var generation = await model.Generate(request, cancellationToken);
        yield return new GenerationChunk(generation.Content, generation);
    }

    // Runs before any caller sees the last chunk, so a caller that arrives after it is answered from the entry.
    private void Keep(Generation generation)
    {
        entry.State.Generation = generation;
        entry.State.ExpiresAt = time.GetUtcNow() + options.Value.Ttl;
        // The activation answers from memory at once; persisting the entry happens behind the response, in the request's trace.
        var previous = _pendingWrite;
        _pendingWrite = BackgroundWork.Run("cache.write", async () =>
        {
            await previous;
            await WriteEntryAsync();
        });
    }

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
    // A caller that joins a generation in flight counts as a hit: it is answered without a backend call of its own.
    private Generation? Lookup()
    {
        using var lookup = CacheCounters.StartLookup(this.GetPrimaryKeyString(), "grain");
        var hit = entry.State.Generation is not null && entry.State.ExpiresAt > time.GetUtcNow();
        counters.Record(lookup, hit || _inFlight is { Abandoned: false });
        return hit ? entry.State.Generation : null;
    }
}
