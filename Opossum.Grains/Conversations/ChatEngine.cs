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
    SiloCache siloCache,
    CacheCounters counters,
    [FromKeyedServices(ProviderNames.Clock)] TimeProvider time)
{
    /// <summary>
    /// The whole answer from the first model that can answer; <paramref name="record"/> runs with it before the reply
    /// is returned. The model's server is asked for it whole: nobody reads its chunks, and that costs less.
    /// </summary>
    public async Task<ChatReply> AnswerAsync(string conversationId, ChatCommand command, IReadOnlyList<Turn> history,
        Func<Generation, Task> record, CancellationToken cancellationToken)
    {
        var answer = await OpenAsync(command, history, stream: false, cancellationToken);
        return await CompleteAsync(conversationId, answer, answer.First, record);
    }

    /// <summary>
    /// The answer chunk by chunk, from the same model <see cref="AnswerAsync"/> would take; a failure after the first
    /// chunk ends the stream with an error that says the answer was cut, and by whom. <paramref name="record"/> runs
    /// with the whole generation before the last chunk is given out, so the last chunk means the exchange is recorded.
    /// </summary>
    public async IAsyncEnumerable<ReplyChunk> StreamAsync(string conversationId, ChatCommand command, IReadOnlyList<Turn> history,
        Func<Generation, Task> record, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var answer = await OpenAsync(command, history, stream: true, cancellationToken);
        var chunk = answer.First;
        await using (answer.Rest)
        {
            var written = 0;
            while (chunk.Completed is null)
            {
                written += chunk.Delta.Length;
                yield return new ReplyChunk(chunk.Delta, answer.Model.Backend, answer.Model.Name, chunk.Cached, Joined: chunk.Joined, ToolCalls: chunk.ToolCalls);
                try
                {
                    if (answer.Rest is null || !await answer.Rest.MoveNextAsync())
                        throw BackendFailures.Unfinished();
                    chunk = answer.Rest.Current;
                }
                catch (OpossumException ex) when (ex.Code == ErrorCodes.BackendUnavailable)
                {
                    throw new OpossumException(ErrorCodes.BackendUnavailable,
                        $"The answer from {answer.Model.Name} ({answer.Model.Backend}) was cut after {written} characters: {ex.Message}", ex);
                }
            }
            var reply = await CompleteAsync(conversationId, answer, chunk, record);
            yield return new ReplyChunk(chunk.Delta, reply.Backend, reply.Model, chunk.Cached, reply, chunk.Joined);
        }
    }

    /// <summary>An answer that has begun: from which model, its first chunk and, when streamed, the rest.</summary>
    private readonly record struct OpenedAnswer(ModelDefinition Model, string? Key, GenerationChunk First,
        IAsyncEnumerator<GenerationChunk>? Rest, string? FallbackReason);

    // The fallback: candidates in the router's order (models that have what the request needs), each through the response cache
    // unless bypassed (a copy on this silo, else the cache grain's answer), whole or streamed; a model that fails before its first
    // chunk, or answers off a strict schema, gives way to the next, and the reply says why.
    private async ValueTask<OpenedAnswer> OpenAsync(ChatCommand command, IReadOnlyList<Turn> history, bool stream, CancellationToken cancellationToken)
    {
        var messages = BuildContext(history, command);
        var sampling = command.Options is { IsEmpty: false } set ? set : null;
        var candidates = router.Candidates(command.Model, ModelNeedsExtensions.Of(messages, sampling));
        var failures = new List<string>();
        var offSchema = false;
        foreach (var model in candidates)
        {
            var request = new GenerationRequest(model.Name, messages, sampling);
            var key = command.NoCache ? null : CacheKey.For(request);
            IAsyncEnumerator<GenerationChunk>? rest = null;
            try
            {
                GenerationChunk first;
                if (key is not null && FindLocally(key) is { } known)
                    first = new GenerationChunk(known.Content, known, Cached: true);
                else if (stream)
                {
                    rest = Stream(request, key, cancellationToken).GetAsyncEnumerator(cancellationToken);
                    if (!await rest.MoveNextAsync())
                        throw BackendFailures.Unfinished();
                    first = rest.Current;
                }
                else if (key is null)
                {
                    var generation = await grains.GetGrain<IModelGrain>(model.Name).Generate(request, cancellationToken);
                    first = new GenerationChunk(generation.Content, generation);
                }
                else
                {
                    var cached = await grains.GetGrain<IResponseCacheGrain>(key).GetOrGenerate(request, cancellationToken);
                    first = new GenerationChunk(cached.Generation.Content, cached.Generation, cached.Cached, cached.ExpiresAt, cached.Joined);
                }
                return new OpenedAnswer(model, key, first, rest, failures.Count == 0 ? null : string.Join("; ", failures));
            }
            catch (OpossumException ex) when (ex.Code is ErrorCodes.BackendUnavailable or ErrorCodes.InvalidModelOutput)
            {
                if (rest is not null)
                    await rest.DisposeAsync();
                // An answer off the schema already names its model.
                offSchema |= ex.Code == ErrorCodes.InvalidModelOutput;
                failures.Add(ex.Code == ErrorCodes.InvalidModelOutput ? ex.Message : $"{model.Name} ({model.Backend}): {ex.Message}");
            }
        }
        throw offSchema
            ? new OpossumException(ErrorCodes.InvalidModelOutput, $"No model gave an answer that matches the schema. Tried {string.Join("; ", failures)}")
            : new OpossumException(ErrorCodes.BackendUnavailable, $"No backend could answer. Tried {string.Join("; ", failures)}");
    }

    private IAsyncEnumerable<GenerationChunk> Stream(GenerationRequest request, string? key, CancellationToken cancellationToken) =>
        key is null
            ? grains.GetGrain<IModelGrain>(request.Model).Stream(request, cancellationToken)
            : grains.GetGrain<IResponseCacheGrain>(key).Stream(request, cancellationToken);

    // Kept on this silo when it came from the cache grain, and recorded before the reply is given out.
    private async Task<ChatReply> CompleteAsync(string conversationId, OpenedAnswer answer, GenerationChunk last, Func<Generation, Task> record)
    {
        var generation = last.Completed!;
        if (answer.Key is not null && last.ExpiresAt is { } expiresAt)
            siloCache.Keep(answer.Key, generation, expiresAt);
        await record(generation);
        return new ChatReply(generation.Content, conversationId, generation.Backend, generation.Model, last.Cached,
            generation.TotalTokens, answer.FallbackReason, generation.FinishReason, generation.InputTokens, generation.OutputTokens, last.Joined,
            last.Cached && !last.Joined ? null : generation.Duration, generation.ToolCalls);
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
        if (siloCache.Find(key) is not { } known) return null;
        using var lookup = CacheCounters.StartLookup(key, "silo");
        counters.Record(lookup, hit: true);
        return known;
    }

    // A conversation's earlier images are not resent: only their hash is kept, so context stays small. A stateless chat's
    // context is what its client sent. The client's system prompt (the command's, or system messages it sent) replaces the configured one.
    private List<ChatMessage> BuildContext(IReadOnlyList<Turn> history, ChatCommand command)
    {
        var messages = new List<ChatMessage>((command.History?.Count ?? history.Count) + 2);
        var system = command.System ?? (command.History?.Any(m => m.Role == "system") == true ? null : options.Value.SystemPrompt);
        if (!string.IsNullOrWhiteSpace(system))
            messages.Add(new ChatMessage("system", system));
        if (command.History is { } sent)
            messages.AddRange(sent);
        else
            messages.AddRange(history.Select(t => new ChatMessage(t.Role, t.Content)));
        messages.Add(new ChatMessage("user", command.Message, command.Image));
        return messages;
    }
}
