using Orleans.Concurrency;
using Orleans.Placement;
using Orleans.Storage;
using Microsoft.Extensions.DependencyInjection;

namespace Opossum.Grains.Conversations;

/// <summary>Stored state of a conversation.</summary>
[GenerateSerializer]
public sealed class ConversationState
{
    [Id(0)] public bool Started { get; set; }
    [Id(1)] public List<Turn> Turns { get; set; } = [];
}

/// <summary>
/// A conversation that continues: keeps the last exchanges, answers each new message in their
/// context and records the exchange. Non-reentrant, so messages of one conversation take turns.
/// </summary>
[CollectionAgeLimit(Minutes = 10)]
public sealed class ConversationGrain(
    [PersistentState(ConversationStarterGrain.StateName, ProviderNames.ConversationStorage)] IPersistentState<ConversationState> conversation,
    ChatEngine engine) : Grain, IConversationGrain
{
    public async Task<ChatReply> Chat(ChatCommand command, CancellationToken cancellationToken = default)
    {
        if (!conversation.State.Started && !command.StartsConversation)
            throw OpossumException.ConversationNotFound(this.GetPrimaryKeyString());

        var (generation, cached, fallbackReason) = await engine.AnswerAsync(command, conversation.State.Turns, cancellationToken);
        engine.Record(conversation.State, command, generation);
        await conversation.WriteStateAsync();
        return new ChatReply(generation.Content, this.GetPrimaryKeyString(), generation.Backend, generation.Model, cached,
            generation.TotalTokens, fallbackReason);
    }

    public Task<ConversationView?> Get() => Task.FromResult(
        conversation.State.Started ? new ConversationView(this.GetPrimaryKeyString(), conversation.State.Turns.ToList()) : null);

    public async Task<bool> End()
    {
        if (!conversation.State.Started) return false;
        await conversation.ClearStateAsync();
        DeactivateOnIdle();
        return true;
    }
}

/// <summary>
/// Starts conversations without activating them: most are one-shot (clients that send no
/// conversationId), so the first exchange is answered here and written straight to the
/// conversation's storage. The conversation grain activates only if the client continues, reading
/// that state. The id is new, so nothing else can be writing it. A few reentrant starters placed on
/// the calling silo (rather than a stateless worker) keep per-call cancellation working.
/// </summary>
[Reentrant, PreferLocalPlacement]
public sealed class ConversationStarterGrain(
    ChatEngine engine,
    [FromKeyedServices(ProviderNames.ConversationStorage)] IGrainStorage storage) : Grain, IConversationStarterGrain
{
    public const string StateName = "conversation";

    /// <summary>How many starter activations share the load.</summary>
    public const int Partitions = 16;

    // Resolving it through GetGrain<IConversationGrain>(id) formats type names on every call (~1 µs).
    private GrainType? _conversationType;

    public static long KeyFor(string conversationId) => (uint)StringComparer.Ordinal.GetHashCode(conversationId) % Partitions;

    public async Task<ChatReply> Start(string conversationId, ChatCommand command, CancellationToken cancellationToken = default)
    {
        var (generation, cached, fallbackReason) = await engine.AnswerAsync(command, [], cancellationToken);
        var conversation = new ConversationState();
        engine.Record(conversation, command, generation);
        var state = new GrainState<ConversationState>(conversation);
        await storage.WriteStateAsync(StateName, ConversationId(conversationId), state);
        return new ChatReply(generation.Content, conversationId, generation.Backend, generation.Model, cached,
            generation.TotalTokens, fallbackReason);
    }

    /// <summary>The id the conversation grain of <paramref name="conversationId"/> reads its state under.</summary>
    private GrainId ConversationId(string conversationId)
    {
        _conversationType ??= GrainFactory.GetGrain<IConversationGrain>(conversationId).GetGrainId().Type;
        return GrainId.Create(_conversationType.Value, conversationId);
    }
}
