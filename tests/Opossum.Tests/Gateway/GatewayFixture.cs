using Opossum.Tests.Support;

namespace Opossum.Tests.Gateway;

/// <summary>One gateway in standalone mode talking to one loopback Ollama-protocol server.</summary>
public sealed class GatewayFixture : IAsyncLifetime
{
    public FakeOllama Ollama { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Ollama = await FakeOllama.StartAsync();
        Gateway = await GatewayHost.StartAsync(Ollama.BaseUrl);
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Ollama.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class GatewayCollection : ICollectionFixture<GatewayFixture>
{
    public const string Name = "gateway";
}
