using Opossum.Tests.Support;

namespace Opossum.Tests.Protection;

/// <summary>A gateway with a client key that lets one other origin's pages call it (OPOSSUM_CORS_ORIGINS).</summary>
public sealed class CorsGateway : IAsyncLifetime
{
    public const string Key = "app-2b7e9c41d0";
    public const string Allowed = "https://app.example.com:8443";
    public const string Foreign = "http://evil.example";

    /// <summary>Loopback origins for pages a real browser opens: one listed, one not.</summary>
    public string AllowedPage { get; } = $"http://127.0.0.1:{FreePorts.Next()}";
    public string ForeignPage { get; } = $"http://127.0.0.1:{FreePorts.Next()}";

    public FakeOllama Ollama { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;
    public Uri GraphQL => new(Gateway.Http.BaseAddress!, "/graphql");

    /// <summary>The gateway's own origin, as a browser on its page at / sends it.</summary>
    public string Own => Gateway.Http.BaseAddress!.GetLeftPart(UriPartial.Authority);

    public async Task InitializeAsync()
    {
        Ollama = await FakeOllama.StartAsync();
        Gateway = await GatewayHost.StartAsync(Ollama.BaseUrl, new Dictionary<string, string?>
        {
            ["OPOSSUM_API_KEYS"] = $"app:{Key}",
            ["OPOSSUM_CORS_ORIGINS"] = $"https://other.example, {Allowed}/,{AllowedPage}",
        });
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Ollama.DisposeAsync();
    }
}
