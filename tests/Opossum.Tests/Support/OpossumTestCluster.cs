using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Opossum.Grains;
using Opossum.Grains.Hosting;
using Orleans.TestingHost;

namespace Opossum.Tests.Support;

/// <summary>A two-silo in-process test cluster running Opossum's grains with the given settings and clock.</summary>
public static class OpossumTestCluster
{
    public static async Task<InProcessTestCluster> DeployAsync(IDictionary<string, string?> settings, TimeProvider clock)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        var builder = new InProcessTestClusterBuilder(2);
        builder.ConfigureSilo((_, silo) =>
        {
            silo.AddOpossumGrains(configuration);
            silo.Services.AddKeyedSingleton(ProviderNames.Clock, clock);
        });
        builder.ConfigureClient(client => client.AddActivityPropagation());
        var cluster = builder.Build();
        await cluster.DeployAsync();
        return cluster;
    }
}
