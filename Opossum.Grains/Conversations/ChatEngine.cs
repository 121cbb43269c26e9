using System.Runtime.CompilerServices;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Opossum.Grains.Backends;
using Opossum.Grains.Caching;
using Opossum.Grains.Routing;

namespace Opossum.Grains.Conversations;

/// <summary>
/// What answering a message means, shared by the conversation grain (continuing conversations) and
/// the starter (new ones): the prompt context, the first model that can answer (through the response
/// cache unless bypassed), and how the exchange is recorded.
/// </summary>
public sealed class ChatEngine(
    IGrainFactory grains,
    ModelRouter router,
    IOptions<ConversationOptions> options,
    IOptions<ModelCatalogOptions> catalog,
    LocalAnswers localAnswers,
    CacheCounters counters,
    [FromKeyedServices(ProviderNames.Clock)] TimeProvider time)
{
    public async Task<(Generation Generation, bool Cached, string? FallbackReason)> AnswerAsync(
        ChatCommand command, IReadOnlyList<Turn> history, CancellationToken cancellationToken)
    {
        var candidates = router.Candidates(command.Model, command.Image is not null);
        var messages = BuildContext(history, command);
        var failures = new List<string>();
        foreach (var model in candidates)
        {
            try
            {
                var (generation, cached) = await GenerateAsync(new GenerationRequest(model.Name, messages), command.NoCache, cancellationToken);
                return (generation, cached, failures.Count == 0 ? null : string.Join("; ", failures));
            }
            catch (OpossumException ex) when (ex.Code == ErrorCodes.BackendUnavailable)
            {
                failures.Add($"{model.Name} ({model.Backend}): {ex.Message}");
            }
        }
        throw new OpossumException(ErrorCodes.BackendUnavailable, $"No backend could answer. Tried {string.Join("; ", failures)}");
    }

    /// <summary>
    /// The answer piece by piece, from the first model that can answer: a model that fails before its first
    /// piece falls back to the next, as <see cref="AnswerAsync"/> does; a failure after it ends the stream with
    /// an error that says the answer was cut, and by whom. <paramref name="record"/> runs with the whole
    /// generation before the last piece is given out, so the last piece means the exchange is recorded.
    /// </summary>
    public async IAsyncEnumerable<ChatPiece> StreamAsync(string conversationId, ChatCommand command, IReadOnlyList<Turn> history,
        Func<Generation, Task> record, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var candidates = router.Candidates(command.Model, command.Image is not null);
        var messages = BuildContext(history, command);
        var failures = new List<string>();
        foreach (var model in candidates)
        {
            var request = new GenerationRequest(model.Name, messages);
            var key = command.NoCache ? null : CacheKey.For(request);
            var pieces = OpenStream(request, key, cancellationToken).GetAsyncEnumerator(cancellationToken);
            GenerationChunk chunk;
            try
            {
                if (!await pieces.MoveNextAsync())
                    throw BackendFailures.Unfinished();
                chunk = pieces.Current;
            }
            catch (OpossumException ex) when (ex.Code == ErrorCodes.BackendUnavailable)
            {
                await pieces.DisposeAsync();
                failures.Add($"{model.Name} ({model.Backend}): {ex.Message}");
                continue;
            }

            await using (pieces)
            {
                var written = 0;
                while (chunk.Completed is null)
                {
                    written += chunk.Delta.Length;
                    yield return new ChatPiece(chunk.Delta, model.Backend, model.Name, chunk.FromCache);
                    try
                    {
                        if (!await pieces.MoveNextAsync())
                            throw BackendFailures.Unfinished();
                        chunk = pieces.Current;
                    }
                    catch (OpossumException ex) when (ex.Code == ErrorCodes.BackendUnavailable)
                    {
                        throw new OpossumException(ErrorCodes.BackendUnavailable,
                            $"The answer from {model.Name} ({model.Backend}) was cut after {written} characters: {ex.Message}", ex);
                    }
                }

                var generation = chunk.Completed;
                if (key is not null && chunk.ExpiresAt is { } expiresAt)
                    localAnswers.Keep(key, generation, expiresAt);
                await record(generation);
                yield return new ChatPiece(chunk.Delta, generation.Backend, generation.Model, chunk.FromCache,
                    new ChatReply(generation.Content, conversationId, generation.Backend, generation.Model, chunk.FromCache,
                        generation.TotalTokens, failures.Count == 0 ? null : string.Join("; ", failures)));
                yield break;
            }
        }
        throw new OpossumException(ErrorCodes.BackendUnavailable, $"No backend could answer. Tried {string.Join("; ", failures)}");
    }

    // A fresh answer on this silo is one piece; otherwise the cache grain's stream (or the model's without a key: no cache).
    private IAsyncEnumerable<GenerationChunk> OpenStream(GenerationRequest request, string? key, CancellationToken cancellationToken)
    {
        if (key is null)
            return grains.GetGrain<IModelGrain>(request.Model).Stream(request, cancellationToken);
        if (FindLocally(key) is { } known)
            return Once(new GenerationChunk(known.Content, known, FromCache: true));
        return grains.GetGrain<IResponseCacheGrain>(key).Stream(request, cancellationToken);
    }

    private static async IAsyncEnumerable<GenerationChunk> Once(GenerationChunk chunk)
    {
        await Task.CompletedTask;
        yield return chunk;
    }

    /// <summary>Adds the exchange and trims the conversation to its context window.</summary>
    public void Record(ConversationState state, ChatCommand command, Generation generation)
    {
        var turns = state.Turns;
        state.Started = true;
        turns.Add(new Turn("user", command.Message, null, time.GetUtcNow(), command.Image?.Sha256, command.RequestId));
        turns.Add(new Turn("assistant", generation.Content, generation.Model, time.GetUtcNow()));
        var keep = options.Value.ContextExchanges * 2;
        if (turns.Count > keep)
            turns.RemoveRange(0, turns.Count - keep);
    }

    /// <summary>
    /// The answer already recorded for <paramref name="requestId"/> (a retry of a request whose reply was lost
    /// with a silo), or null: a retried chat is answered again, never generated or recorded twice.
    /// </summary>
    public ChatReply? Replay(ConversationState state, string conversationId, string requestId)
    {
        var turns = state.Turns;
        var asked = turns.FindLastIndex(t => t.Role == "user" && t.RequestId == requestId);
        if (asked < 0 || asked + 1 >= turns.Count) return null;
        var answer = turns[asked + 1];
        var backend = answer.Model is { } model ? catalog.Value.Find(model)?.Backend ?? "" : "";
        return new ChatReply(answer.Content, conversationId, backend, answer.Model ?? "", Cached: false, TokensUsed: null);
    }

    private async Task<(Generation, bool)> GenerateAsync(GenerationRequest request, bool noCache, CancellationToken cancellationToken)
    {
        if (noCache)
            return (await grains.GetGrain<IModelGrain>(request.Model).Generate(request, cancellationToken), false);
        var key = CacheKey.For(request);
        if (FindLocally(key) is { } known)
            return (known, true);
        var answer = await grains.GetGrain<IResponseCacheGrain>(key).GetOrGenerate(request, cancellationToken);
        localAnswers.Keep(key, answer.Generation, answer.ExpiresAt);
        return (answer.Generation, answer.FromCache);
    }

    // A hit on this silo's copy is traced and counted like one in the cache grain; a miss here is the grain's to trace and count.
    private Generation? FindLocally(string key)
    {
        if (localAnswers.Find(key) is not { } known) return null;
        using var lookup = CacheCounters.StartLookup(key, "silo");
        counters.Record(lookup, hit: true);
        return known;
    }

    // Earlier images are not resent: only their hash is kept, so context stays small.
    private List<ChatMessage> BuildContext(IReadOnlyList<Turn> history, ChatCommand command)
    {
        var messages = new List<ChatMessage>(history.Count + 2);
        if (!string.IsNullOrWhiteSpace(options.Value.SystemPrompt))
            messages.Add(new ChatMessage("system", options.Value.SystemPrompt));
        messages.AddRange(history.Select(t => new ChatMessage(t.Role, t.Content)));
        messages.Add(new ChatMessage("user", command.Message, command.Image));
        return messages;
    }
}
