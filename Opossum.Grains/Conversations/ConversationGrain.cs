using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Opossum.Grains.Caching;
using Opossum.Grains.Routing;

namespace Opossum.Grains.Conversations;

/// <summary>Stored state of a conversation.</summary>
[GenerateSerializer]
public sealed class ConversationState
{
    [Id(0)] public bool Started { get; set; }
    [Id(1)] public List<Turn> Turns { get; set; } = [];
}

/// <summary>
/// A conversation: keeps the last exchanges, sends them with each new message to the first model
/// that can answer (through the response cache unless the caller bypasses it), and records the answer.
/// </summary>
[CollectionAgeLimit(Minutes = 10)]
public sealed class ConversationGrain(
    [PersistentState("conversation", ProviderNames.ConversationStorage)] IPersistentState<ConversationState> conversation,
    IOptions<ConversationOptions> options,
    ModelRouter router,
    [FromKeyedServices(ProviderNames.Clock)] TimeProvider time) : Grain, IConversationGrain
{
    public async Task<ChatReply> Chat(ChatCommand command, CancellationToken cancellationToken = default)
    {
        if (!conversation.State.Started && !command.StartsConversation)
            throw OpossumException.ConversationNotFound(this.GetPrimaryKeyString());

        var candidates = router.Candidates(command.Model, command.Image is not null);
        var messages = BuildContext(command);
        var failures = new List<string>();
        foreach (var model in candidates)
        {
            try
            {
                var (generation, cached) = await GenerateAsync(new GenerationRequest(model.Name, messages), command.NoCache, cancellationToken);
                await RecordAsync(command, generation);
                // Most conversations are one-shot (clients that send no conversationId): do not keep their
                // activation around; the few that continue are re-activated from storage.
                if (command.StartsConversation)
                    DeactivateOnIdle();
                return new ChatReply(generation.Content, this.GetPrimaryKeyString(), generation.Backend, generation.Model, cached,
                    generation.TotalTokens, failures.Count == 0 ? null : string.Join("; ", failures));
            }
            catch (OpossumException ex) when (ex.Code == ErrorCodes.BackendUnavailable)
            {
                failures.Add($"{model.Name} ({model.Backend}): {ex.Message}");
            }
        }
        throw new OpossumException(ErrorCodes.BackendUnavailable, $"No backend could answer. Tried {string.Join("; ", failures)}");
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

    private async Task<(Generation, bool)> GenerateAsync(GenerationRequest request, bool noCache, CancellationToken cancellationToken)
    {
        if (noCache)
            return (await GrainFactory.GetGrain<IModelGrain>(request.Model).Generate(request, cancellationToken), false);
        var answer = await GrainFactory.GetGrain<IResponseCacheGrain>(CacheKey.For(request)).GetOrGenerate(request, cancellationToken);
        return (answer.Generation, answer.FromCache);
    }

    private async Task RecordAsync(ChatCommand command, Generation generation)
    {
        var turns = conversation.State.Turns;
        conversation.State.Started = true;
        turns.Add(new Turn("user", command.Message, null, time.GetUtcNow(), command.Image?.Sha256));
        turns.Add(new Turn("assistant", generation.Content, generation.Model, time.GetUtcNow()));
        var keep = options.Value.ContextExchanges * 2;
        if (turns.Count > keep)
            turns.RemoveRange(0, turns.Count - keep);
        await conversation.WriteStateAsync();
    }

    // Earlier images are not resent: only their hash is kept, so context stays small.
    private List<ChatMessage> BuildContext(ChatCommand command)
    {
        var messages = new List<ChatMessage>(conversation.State.Turns.Count + 2);
        if (!string.IsNullOrWhiteSpace(options.Value.SystemPrompt))
            messages.Add(new ChatMessage("system", options.Value.SystemPrompt));
        messages.AddRange(conversation.State.Turns.Select(t => new ChatMessage(t.Role, t.Content)));
        messages.Add(new ChatMessage("user", command.Message, command.Image));
        return messages;
    }
}
