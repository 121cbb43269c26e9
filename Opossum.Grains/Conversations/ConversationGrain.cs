using Opossum.Grains.Storage;

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
/// A request it has already recorded (a gateway's retry after a silo died) gets the recorded answer.
/// </summary>
[CollectionAgeLimit(Minutes = 10)]
public sealed class ConversationGrain(
    [PersistentState(ConversationStarter.StateName, ProviderNames.ConversationStorage)] IPersistentState<ConversationState> conversation,
    ChatEngine engine) : Grain, IConversationGrain
{
    public async Task<ChatReply> Chat(ChatCommand command, CancellationToken cancellationToken = default)
    {
        if (command.RequestId is { } requestId && engine.Replay(conversation.State, this.GetPrimaryKeyString(), requestId) is { } answered)
            return answered;
        if (!conversation.State.Started && !command.StartsConversation)
            throw OpossumException.ConversationNotFound(this.GetPrimaryKeyString());

        var (generation, cached, fallbackReason) = await engine.AnswerAsync(command, conversation.State.Turns, cancellationToken);
        var before = conversation.State.Turns.ToList();
        engine.Record(conversation.State, command, generation);
        try
        {
            await conversation.WriteStateAsync();
        }
        catch (Exception ex)
        {
            // Not stored is not recorded: the activation must not remember (and later replay) what storage never took.
            conversation.State.Turns = before;
            throw StorageFailures.Unwrap(ex);
        }
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
