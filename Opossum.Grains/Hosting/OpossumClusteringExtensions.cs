using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace Opossum.Grains.Hosting;

/// <summary>How a process joins the cluster: standalone on localhost, or with Redis membership.</summary>
public static class OpossumClusteringExtensions
{
    /// <summary>
    /// Runs a silo in this process: localhost clustering (standalone), or Redis clustering when
    /// <c>OPOSSUM_CLUSTERING=redis</c>, with Opossum's grains.
    /// </summary>
    public static IHostApplicationBuilder AddOpossumSilo(this IHostApplicationBuilder builder, Action<ISiloBuilder>? configure = null)
    {
        var cluster = ClusterSettings.From(builder.Configuration);
        builder.UseOrleans(silo =>
        {
            if (cluster.Clustering == ClusterSettings.Redis)
                silo.UseOpossumRedisClustering(cluster, cluster.GatewayPort, builder.Configuration);
            else
                silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, serviceId: cluster.ServiceId, clusterId: cluster.ClusterId);
            silo.AddOpossumGrains(builder.Configuration);
            configure?.Invoke(silo);
        });
        return builder;
    }

    /// <summary>
    /// Membership in Redis (<c>REDIS_CONNECTION</c>) under the cluster's identity, reachable at the advertised address
    /// on the silo port and, unless it is 0, on the Orleans gateway port for clients.
    /// </summary>
    public static ISiloBuilder UseOpossumRedisClustering(this ISiloBuilder silo, ClusterSettings cluster, int gatewayPort, IConfiguration configuration)
    {
        var redis = cluster.RequireRedis();
        silo.UseRedisClustering(o => o.ConfigurationOptions = redis);
        silo.Configure<ClusterOptions>(o =>
        {
            o.ServiceId = cluster.ServiceId;
            o.ClusterId = cluster.ClusterId;
        });
        silo.ConfigureEndpoints(cluster.AdvertisedAddress(), cluster.SiloPort, gatewayPort, listenOnAnyHostAddress: true);
        return silo.AddOpossumMembership(configuration);
    }

    /// <summary>
    /// Failure detection of a cluster member (a silo, or a cluster gateway): a silo that stops answering
    /// probes is declared dead within a few seconds (1 s probes, 3 missed), so the calls waiting on it fail
    /// and are retried elsewhere. Operators tune it with <c>Orleans__Membership__*</c> and messaging with
    /// <c>Orleans__Messaging__*</c>.
    /// </summary>
    public static ISiloBuilder AddOpossumMembership(this ISiloBuilder silo, IConfiguration configuration)
    {
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromSeconds(1);
            o.NumMissedProbesLimit = 3;
        });
        silo.Configure<ClusterMembershipOptions>(configuration.GetSection("Orleans:Membership"));
        silo.Configure<SiloMessagingOptions>(configuration.GetSection("Orleans:Messaging"));
        return silo;
    }
}
