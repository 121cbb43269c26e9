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
    /// <summary>
    /// The answer chunk by chunk, from the first model that can answer: a model that fails before its first
    /// chunk falls back to the next; a failure after it ends the stream with an error that says the answer was
    /// cut, and by whom. <paramref name="record"/> runs with the whole generation before the last chunk is given
    /// out, so the last chunk (the only one when not <paramref name="stream"/>) means the exchange is recorded.
    /// </summary>
    public async IAsyncEnumerable<ChatPiece> AnswerAsync(string conversationId, ChatCommand command, IReadOnlyList<Turn> history,
        Func<Generation, Task> record, bool stream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var candidates = router.Candidates(command.Model, command.Image is not null);
        var messages = BuildContext(history, command);
        var failures = new List<string>();
        foreach (var model in candidates)
        {
            var request = new GenerationRequest(model.Name, messages);
            var key = command.NoCache ? null : CacheKey.For(request);
            var chunks = Open(request, key, stream, cancellationToken).GetAsyncEnumerator(cancellationToken);
            GenerationChunk chunk;
            try
            {
                if (!await chunks.MoveNextAsync())
                    throw BackendFailures.Unfinished();
                chunk = chunks.Current;
            }
            catch (OpossumException ex) when (ex.Code == ErrorCodes.BackendUnavailable)
            {
                await chunks.DisposeAsync();
                failures.Add($"{model.Name} ({model.Backend}): {ex.Message}");
                continue;
            }

            await using (chunks)
            {
                var written = 0;
                while (chunk.Completed is null)
                {
                    written += chunk.Delta.Length;
                    yield return new ChatPiece(chunk.Delta, model.Backend, model.Name, chunk.FromCache);
                    try
                    {
                        if (!await chunks.MoveNextAsync())
                            throw BackendFailures.Unfinished();
                        chunk = chunks.Current;
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

    /// <summary>The reply that the last chunk of <paramref name="chunks"/> carries: a whole answer is its stream collected.</summary>
    public static async Task<ChatReply> CollectAsync(IAsyncEnumerable<ChatPiece> chunks)
    {
        await foreach (var chunk in chunks)
        {
            if (chunk.Reply is { } reply)
                return reply;
        }
        throw BackendFailures.Unfinished();
    }

    // A fresh answer on this silo is one chunk; otherwise the cache grain's (or the model's without a key: no cache),
    // asked for whole when nobody reads the chunks, which costs the server and the cluster less.
    private IAsyncEnumerable<GenerationChunk> Open(GenerationRequest request, string? key, bool stream, CancellationToken cancellationToken)
    {
        if (key is not null && FindLocally(key) is { } known)
            return Once(new GenerationChunk(known.Content, known, FromCache: true));
        if (stream)
            return key is null
                ? grains.GetGrain<IModelGrain>(request.Model).Stream(request, cancellationToken)
                : grains.GetGrain<IResponseCacheGrain>(key).Stream(request, cancellationToken);
        return Whole(request, key, cancellationToken);
    }

    private async IAsyncEnumerable<GenerationChunk> Whole(GenerationRequest request, string? key, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        if (key is null)
        {
            var generation = await grains.GetGrain<IModelGrain>(request.Model).Generate(request, cancellationToken);
            yield return new GenerationChunk(generation.Content, generation);
            yield break;
        }
        var answer = await grains.GetGrain<IResponseCacheGrain>(key).GetOrGenerate(request, cancellationToken);
        yield return new GenerationChunk(answer.Generation.Content, answer.Generation, answer.FromCache, answer.ExpiresAt);
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
