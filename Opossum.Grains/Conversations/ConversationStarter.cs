using Microsoft.Extensions.DependencyInjection;
using Orleans.Concurrency;
using Orleans.Placement;
using Orleans.Storage;

namespace Opossum.Grains.Conversations;

/// <summary>
/// Starts a conversation without activating it: most are one-shot (clients that send no
/// conversationId), so the first exchange is answered here and written straight to the
/// conversation's storage. The conversation grain activates only if the client continues, reading
/// that state. The id is new, so nothing else can be writing it. A stateless chat (the OpenAI and
/// Ollama doors: its client sends the whole context) is answered here too, and nothing is stored.
/// Runs on a silo: a gateway that co-hosts the silo (standalone) calls it in-process; a gateway
/// that is a pure Orleans client (cluster) reaches it through <see cref="ConversationStarterGrain"/>.
/// </summary>
public sealed class ConversationStarter(
    ChatEngine engine,
    [FromKeyedServices(ProviderNames.ConversationStorage)] IGrainStorage storage,
    IGrainFactory grains)
{
    /// <summary>The state name the conversation grain reads and the starter writes.</summary>
    public const string StateName = "conversation";

    // Resolved once: GetGrain<IConversationGrain>(id) would format type names on every one-shot chat.
    private readonly Lazy<GrainType> _conversationType = new(() => grains.GetGrain<IConversationGrain>("-").GetGrainId().Type);

    public Task<ChatReply> StartAsync(string conversationId, ChatCommand command, CancellationToken cancellationToken) =>
        engine.AnswerAsync(conversationId, command, [], generation => RecordAsync(conversationId, command, generation), cancellationToken);

    /// <summary>The answer to the first message, chunk by chunk; the conversation is stored before the last chunk.</summary>
    public IAsyncEnumerable<ReplyChunk> StreamAsync(string conversationId, ChatCommand command, CancellationToken cancellationToken) =>
        engine.StreamAsync(conversationId, command, [], generation => RecordAsync(conversationId, command, generation), cancellationToken);

    private Task RecordAsync(string conversationId, ChatCommand command, Generation generation)
    {
        if (command.Stateless) return Task.CompletedTask;
        var conversation = new ConversationState();
        engine.Record(conversation, command, generation);
        var state = new GrainState<ConversationState>(conversation);
        return storage.WriteStateAsync(StateName, GrainId.Create(_conversationType.Value, conversationId), state);
    }
}

/// <summary>
/// Where a pure Orleans client (the cluster gateway) starts conversations: a few reentrant starters
/// (rather than a stateless worker) keep per-call cancellation working.
/// A gateway that co-hosts the silo calls <see cref="ConversationStarter"/> itself.
/// </summary>
[Reentrant, PreferLocalPlacement]
public sealed class ConversationStarterGrain(ConversationStarter starter) : Grain, IConversationStarterGrain
{
    public Task<ChatReply> Start(string conversationId, ChatCommand command, CancellationToken cancellationToken = default) =>
        starter.StartAsync(conversationId, command, cancellationToken);

    public IAsyncEnumerable<ReplyChunk> StartStream(string conversationId, ChatCommand command, CancellationToken cancellationToken = default) =>
        starter.StreamAsync(conversationId, command, cancellationToken);
}
