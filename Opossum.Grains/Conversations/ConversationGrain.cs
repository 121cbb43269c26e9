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
/// A streamed answer's pieces are fetched by calls that Orleans interleaves with the grain's others, so
/// the exchanges of this conversation, streamed or not, also take turns on <see cref="_turn"/>.
/// </summary>
[CollectionAgeLimit(Minutes = 10)]
public sealed class ConversationGrain(
    [PersistentState(ConversationStarter.StateName, ProviderNames.ConversationStorage)] IPersistentState<ConversationState> conversation,
    ChatEngine engine) : Grain, IConversationGrain
{
    private readonly SemaphoreSlim _turn = new(1, 1);

    public Task<ChatReply> Chat(ChatCommand command, CancellationToken cancellationToken = default) =>
        ChatEngine.CollectAsync(TakeTurnAsync(command, stream: false, cancellationToken));

    public IAsyncEnumerable<ChatPiece> ChatStream(ChatCommand command, CancellationToken cancellationToken = default) =>
        TakeTurnAsync(command, stream: true, cancellationToken);

    private async IAsyncEnumerable<ChatPiece> TakeTurnAsync(ChatCommand command, bool stream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        await _turn.WaitAsync(cancellationToken);
        try
        {
            if (command.RequestId is { } requestId && engine.Replay(conversation.State, this.GetPrimaryKeyString(), requestId) is { } answered)
            {
                yield return new ChatPiece(answered.Message, answered.Backend, answered.Model, answered.Cached, answered);
                yield break;
            }
            EnsureStarted(command);
            await foreach (var chunk in engine.AnswerAsync(this.GetPrimaryKeyString(), command, conversation.State.Turns, g => RecordAsync(command, g), stream, cancellationToken))
                yield return chunk;
        }
        finally
        {
            _turn.Release();
        }
    }

    private void EnsureStarted(ChatCommand command)
    {
        if (!conversation.State.Started && !command.StartsConversation)
            throw OpossumException.ConversationNotFound(); // the key is a hash: the gateway names the client's id
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
