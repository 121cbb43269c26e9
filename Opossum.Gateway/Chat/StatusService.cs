using Microsoft.Extensions.Options;
using Opossum.Gateway.Protection;
using Opossum.Grains;

namespace Opossum.Gateway.Chat;

/// <summary>Reads availability, models and cache counts for the GraphQL queries; each is safe to retry.</summary>
public sealed class StatusService(IGrainFactory grains, IOptions<ModelCatalogOptions> catalog, ClusterCalls cluster)
{
    private ModelCatalogOptions Catalog => catalog.Value;

    public Task<ServiceHealth[]> ServicesAsync() =>
        cluster.RunAsync(_ => Task.WhenAll(Catalog.Backends.Select(s => grains.GetGrain<IServiceGrain>(s).GetHealth())), CancellationToken.None);

    /// <summary>The services as <paramref name="caller"/> may see them (<see cref="OperatorDetail"/>).</summary>
    public async Task<ServiceHealth[]> ServicesAsync(Caller caller) =>
        [.. (await ServicesAsync()).Select(health => OperatorDetail.For(caller, health))];

    public async Task<ServiceHealth[]> ForceCheckAsync(string? service)
    {
        if (service is not null && !Catalog.Backends.Contains(service))
            throw OpossumException.BadInput($"Unknown service '{service}'. Known services: {string.Join(", ", Catalog.Backends)}.");
        var names = service is null ? Catalog.Backends : [service];
        return await cluster.RunAsync(_ => Task.WhenAll(names.Select(s => grains.GetGrain<IServiceGrain>(s).Check())), CancellationToken.None);
    }

    public async Task<ServiceStatusView> StatusAsync()
    {
        var services = await ServicesAsync();
        bool Available(string name) => services.Any(s => s.Name == name && s.Available);
        return new ServiceStatusView(
            Available(BackendNames.Ollama),
            Available(BackendNames.Gemini),
            services.Length > 0 && services.All(s => s.Available),
            services.Max(s => s.LastChecked)?.UtcDateTime);
    }

    public async Task<ModelView[]> ModelsAsync()
    {
        var services = (await ServicesAsync()).ToDictionary(s => s.Name);
        return Catalog.Models
            .Select(m => new ModelView(m.Name, m.Backend, m.ApiName, services.TryGetValue(m.Backend, out var h) && h.Available, m.SupportsImages, m.SupportsTools, m.SupportsSchemas))
            .ToArray();
    }

    public Task<CacheCounts> CacheStatsAsync() => cluster.RunAsync(_ => grains.GetGrain<ICacheStatsGrain>(0).Get(), CancellationToken.None);
}

/// <summary>The <c>ServiceStatus</c> of the GraphQL schema.</summary>
public sealed record ServiceStatusView(bool OllamaAvailable, bool GeminiAvailable, bool AllServicesAvailable, DateTime? LastChecked);

/// <summary>The <c>ModelInfo</c> of the GraphQL schema.</summary>
public sealed record ModelView(string Name, string Backend, string ApiName, bool Available, bool SupportsImages, bool SupportsTools, bool SupportsSchemas);
