using Opossum.Tests.Support;

namespace Opossum.Tests.Cluster;

/// <summary>What every process of a test cluster on loopback is started with: Redis clustering, its own ports, no collector.</summary>
public static class ClusterEnvironment
{
    public static Dictionary<string, string> For(RedisServer redis, string clusterId, string serviceName, string ollamaUrls) => new()
    {
        ["OPOSSUM_CLUSTERING"] = "redis",
        ["REDIS_CONNECTION"] = redis.ConnectionString,
        ["OPOSSUM_CLUSTER_ID"] = clusterId,
        ["OPOSSUM_ADVERTISED_IP"] = "127.0.0.1",
        ["OPOSSUM_SILO_PORT"] = FreePorts.Next().ToString(),
        ["OPOSSUM_GATEWAY_PORT"] = FreePorts.Next().ToString(),
        ["OLLAMA_BASE_URL"] = ollamaUrls,
        ["OTEL_SERVICE_NAME"] = serviceName,
        // Nothing listens there: export failures must not disturb the cluster.
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = $"http://127.0.0.1:{FreePorts.Next()}",
        ["Opossum__Availability__CheckPeriod"] = "01:00:00",
    };
}
