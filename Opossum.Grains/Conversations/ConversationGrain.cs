using System.Runtime.CompilerServices;
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
/// A streamed answer's chunks are fetched by calls that Orleans interleaves with the grain's others, so
/// the exchanges of this conversation, streamed or not, also take turns on <see cref="_turn"/>.
/// </summary>
[CollectionAgeLimit(Minutes = 10)]
public sealed class ConversationGrain(
    [PersistentState(ConversationStarter.StateName, ProviderNames.ConversationStorage)] IPersistentState<ConversationState> conversation,
    ChatEngine engine) : Grain, IConversationGrain
{
    private readonly SemaphoreSlim _turn = new(1, 1);

    public async Task<ChatReply> Chat(ChatCommand command, CancellationToken cancellationToken = default)
    {
        await _turn.WaitAsync(cancellationToken);
        try
        {
            return Replay(command) ?? await engine.AnswerAsync(this.GetPrimaryKeyString(), command, conversation.State.Turns,
                generation => RecordAsync(command, generation), cancellationToken);
        }
        finally
        {
            _turn.Release();
        }
    }

    public async IAsyncEnumerable<ReplyChunk> ChatStream(ChatCommand command, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        await _turn.WaitAsync(cancellationToken);
        try
        {
            if (Replay(command) is { } answered)
            {
                yield return new ReplyChunk(answered.Message, answered.Backend, answered.Model, answered.Cached, answered);
                yield break;
            }
            await foreach (var chunk in engine.StreamAsync(this.GetPrimaryKeyString(), command, conversation.State.Turns,
                generation => RecordAsync(command, generation), cancellationToken))
                yield return chunk;
        }
        finally
        {
            _turn.Release();
        }
    }

    // The reply already recorded for this request, or null when it is to be answered: then the conversation must exist or start with it.
    private ChatReply? Replay(ChatCommand command)
    {
        if (command.RequestId is { } requestId && engine.Replay(conversation.State, this.GetPrimaryKeyString(), requestId) is { } answered)
            return answered;
        if (!conversation.State.Started && !command.StartsConversation)
            throw OpossumException.ConversationNotFound(); // the key is a hash: the gateway names the client's id
        return null;
    }

    private async Task RecordAsync(ChatCommand command, Generation generation)
    {
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
    }

    public Task<ConversationView?> Get() => Task.FromResult(
        conversation.State.Started ? new ConversationView(this.GetPrimaryKeyString(), conversation.State.Turns.ToList()) : null);

    public async Task<bool> End()
    {
        await _turn.WaitAsync();
        try
        {
            if (!conversation.State.Started) return false;
            await conversation.ClearStateAsync();
            DeactivateOnIdle();
            return true;
        }
        finally
        {
            _turn.Release();
        }
    }
}
