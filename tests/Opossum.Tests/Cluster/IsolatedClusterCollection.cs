namespace Opossum.Tests.Cluster;

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class IsolatedClusterCollection
{
    public const string Name = "cluster processes";
}
