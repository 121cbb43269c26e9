namespace Opossum.Tests.Cluster;

/// <summary>Tests that start real processes (redis-server, silos, gateways, the benchmark): they run alone, after the parallel collections, so their processes have the cores to themselves.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class IsolatedClusterCollection
{
    public const string Name = "cluster processes";
}
