using Microsoft.Extensions.Time.Testing;
using Opossum.Grains;
using Opossum.Tests.Support;
using Orleans.TestingHost;

namespace Opossum.Tests.Grains;

/// <summary>
/// A two-silo Orleans test cluster running Opossum's grains against a loopback Ollama-protocol server
/// that runs <see cref="ServerParallelism"/> generations at once.
/// Shared by the grain tests of one collection; the clock is a fake so TTLs are tested without waiting.
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    public const string Model = "gemma3:1b";
    public const string BoundedModel = "bounded";
    /// <summary>The Ollama server's parallelism: generations it runs at once, cluster-wide.</summary>
    public const int ServerParallelism = 3;

    public FakeOllama Ollama { get; private set; } = null!;
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);
    public IGrainFactory Grains => Cluster.Client;

    public async Task InitializeAsync()
    {
        Ollama = await FakeOllama.StartAsync();
        Cluster = await OpossumTestCluster.DeployAsync(new Dictionary<string, string?>
        {
            ["Backends:Ollama:BaseUrl"] = Ollama.BaseUrl.ToString(),
            ["Models:0:Name"] = Model,
            ["Models:0:Backend"] = "ollama",
            ["Models:1:Name"] = BoundedModel,
            ["Models:1:Backend"] = "ollama",
            ["Backends:Ollama:Parallelism"] = ServerParallelism.ToString(),
            // Checks run on demand in tests; the timer's first tick happens at activation.
            ["Opossum:Availability:CheckPeriod"] = "01:00:00",
        }, Clock);
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        await Ollama.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
