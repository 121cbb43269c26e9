using Opossum.Gateway.Protection;
using Opossum.Grains;

namespace Opossum.Gateway.Chat;

/// <summary>Reads and ends a caller's conversations for GraphQL; a conversation of another key is as unknown as one that never existed.</summary>
public sealed class ConversationService(IGrainFactory grains, ClusterCalls cluster)
{
    /// <summary>The caller's conversation <paramref name="id"/>; null when it does not exist or is another key's.</summary>
    public async Task<ConversationView?> GetAsync(string id, Caller caller)
    {
        ChatService.ValidateConversationId(id);
        var view = await cluster.RunAsync(_ => grains.GetGrain<IConversationGrain>(ConversationKeys.For(caller, id)).Get(), CancellationToken.None);
        return view is null ? null : view with { Id = id };
    }

    /// <summary>Forgets the caller's conversation <paramref name="id"/>; false when it does not exist or is another key's.</summary>
    public Task<bool> EndAsync(string id, Caller caller)
    {
        ChatService.ValidateConversationId(id);
        return cluster.RunAsync(_ => grains.GetGrain<IConversationGrain>(ConversationKeys.For(caller, id)).End(), CancellationToken.None);
    }
}
