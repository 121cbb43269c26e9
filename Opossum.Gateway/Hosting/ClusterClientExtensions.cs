using Microsoft.Extensions.DependencyInjection.Extensions;
using Opossum.Grains.Hosting;
using Orleans.Configuration;
using StackExchange.Redis;

namespace Opossum.Gateway.Hosting;

/// <summary>How the gateway reaches the grains: a co-hosted silo (standalone) or a pure Orleans client (cluster).</summary>
public static class ClusterClientExtensions
{
    public static IHostApplicationBuilder AddOpossumCluster(this IHostApplicationBuilder builder)
    {
        var cluster = ClusterSettings.From(builder.Configuration);
        if (cluster.Clustering != ClusterSettings.Redis)
            return builder.AddOpossumSilo();

        var redis = cluster.RequireRedis();
        var grainCallTimeout = OpossumSiloExtensions.GrainCallTimeout(builder.Configuration);
        builder.Services.TryAddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(redis));
        builder.UseOrleansClient(client =>
        {
            client.UseRedisClustering(o => o.ConfigurationOptions = redis);
            client.Configure<ClusterOptions>(o =>
            {
                o.ServiceId = cluster.ServiceId;
                o.ClusterId = cluster.ClusterId;
            });
            client.AddActivityPropagation();
            client.Configure<ClientMessagingOptions>(o => o.ResponseTimeout = grainCallTimeout);
            // Silos come and go while the gateway serves: learn about new ones quickly.
            client.Configure<GatewayOptions>(o => o.GatewayListRefreshPeriod = TimeSpan.FromSeconds(5));
            client.UseConnectionRetryFilter(WaitForClusterAsync);
        });
        return builder;
    }

    // The gateway may start before any silo: keep trying, saying so once per attempt.
    private static async Task<bool> WaitForClusterAsync(Exception exception, CancellationToken cancellationToken)
    {
        Console.Error.WriteLine($"opossum-gateway: no silo reachable yet ({exception.Message.Split('\n')[0]}); retrying in 2 s");
        await Task.Delay(TimeSpan.FromSeconds(2), cancellationToken);
        return true;
    }
}
