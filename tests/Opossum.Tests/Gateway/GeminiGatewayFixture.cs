using Opossum.Tests.Support;

namespace Opossum.Tests.Gateway;

/// <summary>A gateway with both backends: Gemini (with a key) and Ollama, both on loopback.</summary>
public sealed class GeminiGatewayFixture : IAsyncLifetime
{
    public FakeOllama Ollama { get; private set; } = null!;
    public FakeGemini Gemini { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Ollama = await FakeOllama.StartAsync();
        Gemini = await FakeGemini.StartAsync();
        Gateway = await GatewayHost.StartAsync(Ollama.BaseUrl, new Dictionary<string, string?>
        {
            ["GEMINI_API_KEY"] = FakeGemini.ApiKey,
            ["GEMINI_BASE_URL"] = Gemini.BaseUrl.ToString(),
            ["Models:0:Name"] = "gemini-thinking",
            ["Models:0:Backend"] = "gemini",
            ["Models:0:ApiName"] = "gemini-2.0-flash",
            ["Models:0:SupportsImages"] = "true",
            ["Models:1:Name"] = "gemma3:1b",
            ["Models:1:Backend"] = "ollama",
        });
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Ollama.DisposeAsync();
        await Gemini.DisposeAsync();
    }
}
