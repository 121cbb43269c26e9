using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Opossum.Grains.Caching;

namespace Opossum.Grains.Conversations;

/// <summary>Stored state of a conversation.</summary>
[GenerateSerializer]
public sealed class ConversationState
{
    [Id(0)] public bool Started { get; set; }
    [Id(1)] public List<Turn> Turns { get; set; } = [];
}

/// <summary>
/// A conversation: keeps the last exchanges, sends them with each new message to the model
/// (through the response cache unless the caller bypasses it) and records the answer.
/// </summary>
public sealed class ConversationGrain(
    [PersistentState("conversation", ProviderNames.Storage)] IPersistentState<ConversationState> conversation,
    IOptions<ConversationOptions> options,
    IOptions<ModelCatalogOptions> catalog,
    [FromKeyedServices(ProviderNames.Clock)] TimeProvider time) : Grain, IConversationGrain
{
    public async Task<ChatReply> Chat(ChatCommand command)
    {
        if (!conversation.State.Started && !command.StartsConversation)
            throw OpossumException.ConversationNotFound(this.GetPrimaryKeyString());

        var modelName = command.Model ?? catalog.Value.ResolveDefault();
        if (catalog.Value.Find(modelName) is null)
            throw OpossumException.ModelNotFound(modelName);

        var request = new GenerationRequest(modelName, BuildContext(command.Message));
        var (generation, cached) = command.NoCache
            ? (await GrainFactory.GetGrain<IModelGrain>(modelName).Generate(request), false)
            : await AskCacheAsync(request);

        var now = time.GetUtcNow();
        conversation.State.Started = true;
        conversation.State.Turns.Add(new Turn("user", command.Message, null, now));
        conversation.State.Turns.Add(new Turn("assistant", generation.Content, generation.Model, time.GetUtcNow()));
        var keep = options.Value.ContextExchanges * 2;
        if (conversation.State.Turns.Count > keep)
            conversation.State.Turns.RemoveRange(0, conversation.State.Turns.Count - keep);
        await conversation.WriteStateAsync();

        return new ChatReply(generation.Content, this.GetPrimaryKeyString(), generation.Backend, generation.Model, cached, generation.TotalTokens);
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

    private async Task<(Generation, bool)> AskCacheAsync(GenerationRequest request)
    {
        var answer = await GrainFactory.GetGrain<IResponseCacheGrain>(CacheKey.For(request)).GetOrGenerate(request);
        return (answer.Generation, answer.FromCache);
    }

    private List<ChatMessage> BuildContext(string message)
    {
        var messages = new List<ChatMessage>(conversation.State.Turns.Count + 2);
        if (!string.IsNullOrWhiteSpace(options.Value.SystemPrompt))
            messages.Add(new ChatMessage("system", options.Value.SystemPrompt));
        messages.AddRange(conversation.State.Turns.Select(t => new ChatMessage(t.Role, t.Content)));
        messages.Add(new ChatMessage("user", message));
        return messages;
    }
}
