using Microsoft.Extensions.Options;

namespace Opossum.Grains.Availability;

/// <summary>Activates the service grain of every configured backend when a silo starts, so checks run before the first request.</summary>
internal sealed class ServiceMonitorStartup(IGrainFactory grains, IOptions<ModelCatalogOptions> catalog) : IStartupTask
{
    public Task Execute(CancellationToken cancellationToken) =>
        Task.WhenAll(catalog.Value.Backends.Select(s => grains.GetGrain<IServiceGrain>(s).GetHealth()));
}
