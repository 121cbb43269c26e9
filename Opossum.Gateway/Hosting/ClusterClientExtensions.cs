using Opossum.Grains.Conversations;
using Opossum.Grains.Hosting;
using Orleans.Configuration;

namespace Opossum.Gateway.Hosting;

/// <summary>
/// How the gateway reaches the grains. Standalone: it co-hosts the one silo. Cluster: it joins the
/// cluster as a silo that hosts none of Opossum's grains, so that its calls are those of a member:
/// when membership declares a silo dead, every call waiting on it fails at once (and is retried,
/// see <c>Chat/ClusterCalls</c>) instead of waiting for the response timeout, as a pure Orleans client's
/// calls forwarded through a gateway silo would (dotnet/orleans#10165). docs/operations.md says why.
/// </summary>
public static class ClusterClientExtensions
{
    public static IHostApplicationBuilder AddOpossumCluster(this IHostApplicationBuilder builder)
    {
        var cluster = ClusterSettings.From(builder.Configuration);
        if (cluster.Clustering != ClusterSettings.Redis)
            return builder.AddOpossumSilo();

        builder.Services.AddOpossumRedis(cluster.RedisConnection!); // null only when clustering below refuses to start
        // The co-hosted silo of standalone mode binds the catalog; here the gateway binds it for itself.
        builder.Services.AddOpossumModelCatalog(builder.Configuration);
        builder.UseOrleans(silo =>
        {
            // Other silos probe this one on its silo port; it serves no Orleans clients (gateway port 0).
            silo.UseOpossumRedisClustering(cluster, gatewayPort: 0, builder.Configuration);
            var grainCallTimeout = OpossumSiloExtensions.GrainCallTimeout(builder.Configuration);
            silo.AddActivityPropagation();
            silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = grainCallTimeout);
            // Grains are placed only on silos that have their classes: leaving Opossum's out keeps them all on Opossum.Silo processes.
            silo.Services.PostConfigure<GrainTypeOptions>(o => o.Classes.RemoveWhere(c => c.Assembly == typeof(ConversationGrain).Assembly));
        });
        return builder;
    }
}
