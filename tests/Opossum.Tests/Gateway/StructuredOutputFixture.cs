using Opossum.Tests.Support;

namespace Opossum.Tests.Gateway;

/// <summary>
/// A gateway whose catalog differs by capability: Gemini takes tools and schemas, gemma3:1b (Ollama) schemas only, plain (Ollama)
/// neither; both backends are loopback servers speaking their tool and JSON wire formats.
/// </summary>
public sealed class StructuredOutputFixture : IAsyncLifetime
{
    public const string Gemini = "gemini-thinking";
    public const string Gemma = "gemma3:1b";
    public const string Plain = "plain";

    /// <summary>What the loopback servers answer when asked for JSON: {"echo": the prompt}.</summary>
    public const string EchoSchema = """{"type":"object","properties":{"echo":{"type":"string"}},"required":["echo"]}""";

    public FakeOllama Ollama { get; private set; } = null!;
    public FakeGemini GeminiServer { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Ollama = await FakeOllama.StartAsync();
        GeminiServer = await FakeGemini.StartAsync();
        Gateway = await GatewayHost.StartAsync(Ollama.BaseUrl, new Dictionary<string, string?>
        {
            ["GEMINI_API_KEY"] = FakeGemini.ApiKey,
            ["GEMINI_BASE_URL"] = GeminiServer.BaseUrl.ToString(),
            ["Models:0:Name"] = Gemini,
            ["Models:0:Backend"] = "gemini",
            ["Models:0:ApiName"] = "gemini-2.0-flash",
            ["Models:0:SupportsTools"] = "true",
            ["Models:0:SupportsSchemas"] = "true",
            ["Models:1:Name"] = Gemma,
            ["Models:1:Backend"] = "ollama",
            ["Models:1:ApiName"] = "gemma3:1b",
            ["Models:1:SupportsSchemas"] = "true",
            ["Models:2:Name"] = Plain,
            ["Models:2:Backend"] = "ollama",
            ["Models:2:ApiName"] = "gemma3:1b",
        });
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Ollama.DisposeAsync();
        await GeminiServer.DisposeAsync();
    }
}
