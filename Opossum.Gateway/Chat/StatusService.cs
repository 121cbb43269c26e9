using Microsoft.Extensions.Options;
using Opossum.Grains;

namespace Opossum.Gateway.Chat;

/// <summary>Reads availability, models, cache counts and conversations for the GraphQL queries.</summary>
public sealed class StatusService(IGrainFactory grains, IOptions<ModelCatalogOptions> catalog)
{
    private ModelCatalogOptions Catalog => catalog.Value;

    public Task<ServiceHealth[]> ServicesAsync() =>
        Task.WhenAll(Catalog.Services.Select(s => grains.GetGrain<IServiceGrain>(s).GetHealth()));

    public async Task<ServiceHealth[]> ForceCheckAsync(string? service)
    {
        if (service is not null && !Catalog.Services.Contains(service))
            throw OpossumException.BadInput($"Unknown service '{service}'. Known services: {string.Join(", ", Catalog.Services)}.");
        var names = service is null ? Catalog.Services : [service];
        return await Task.WhenAll(names.Select(s => grains.GetGrain<IServiceGrain>(s).Check()));
    }

    public async Task<ServiceStatusView> StatusAsync()
    {
        var services = await ServicesAsync();
        bool Available(string name) => services.Any(s => s.Name == name && s.Available);
        return new ServiceStatusView(
            Available("ollama"),
            Available("gemini"),
            services.Length > 0 && services.All(s => s.Available),
            services.Max(s => s.LastChecked)?.UtcDateTime);
    }

    public async Task<ModelView[]> ModelsAsync()
    {
        var services = (await ServicesAsync()).ToDictionary(s => s.Name);
        return Catalog.Models
            .Select(m => new ModelView(m.Name, m.Backend, m.ApiName, services.TryGetValue(m.Backend, out var h) && h.Available, m.SupportsImages))
            .ToArray();
    }

    public Task<CacheCounts> CacheStatsAsync() => grains.GetGrain<ICacheStatsGrain>(0).Get();

    public Task<ConversationView?> ConversationAsync(string id)
    {
        ChatService.ValidateConversationId(id);
        return grains.GetGrain<IConversationGrain>(id).Get();
    }

    public Task<bool> EndConversationAsync(string id)
    {
        ChatService.ValidateConversationId(id);
        return grains.GetGrain<IConversationGrain>(id).End();
    }
}

/// <summary>The <c>ServiceStatus</c> of the GraphQL schema.</summary>
public sealed record ServiceStatusView(bool OllamaAvailable, bool GeminiAvailable, bool AllServicesAvailable, DateTime? LastChecked);

/// <summary>The <c>ModelInfo</c> of the GraphQL schema.</summary>
public sealed record ModelView(string Name, string Backend, string ApiName, bool Available, bool SupportsImages);
