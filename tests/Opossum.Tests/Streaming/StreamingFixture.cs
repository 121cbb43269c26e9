using Opossum.Tests.Support;

namespace Opossum.Tests.Streaming;

/// <summary>A gateway with both backends streaming slowly (a word per chunk, 150 ms apart), on loopback.</summary>
public sealed class StreamingFixture : IAsyncLifetime
{
    public static readonly TimeSpan ChunkDelay = TimeSpan.FromMilliseconds(150);

    public FakeOllama Ollama { get; private set; } = null!;
    public FakeGemini Gemini { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;

    public Uri GraphQL => new(Gateway.Http.BaseAddress!, "/graphql");

    public async Task InitializeAsync()
    {
        Ollama = await FakeOllama.StartAsync();
        Ollama.ChunkDelay = ChunkDelay;
        Gemini = await FakeGemini.StartAsync();
        Gemini.ChunkDelay = ChunkDelay;
        Gateway = await GatewayHost.StartAsync(Ollama.BaseUrl, new Dictionary<string, string?>
        {
            ["GEMINI_API_KEY"] = FakeGemini.ApiKey,
            ["GEMINI_BASE_URL"] = Gemini.BaseUrl.ToString(),
            ["Models:0:Name"] = "gemma3:1b",
            ["Models:0:Backend"] = "ollama",
            ["Models:0:ApiName"] = "gemma3:1b",
            ["Models:1:Name"] = "gemini-thinking",
            ["Models:1:Backend"] = "gemini",
            ["Models:1:ApiName"] = "gemini-2.0-flash",
        });
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Ollama.DisposeAsync();
        await Gemini.DisposeAsync();
    }
}
