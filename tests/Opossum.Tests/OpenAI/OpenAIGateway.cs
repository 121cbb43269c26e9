using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Protection;
using Opossum.Tests.Support;

namespace Opossum.Tests.OpenAI;

/// <summary>
/// A standalone gateway with a client key and no limits before a loopback Ollama (streaming a word every 40 ms) and a loopback
/// Gemini: <see cref="Model"/> takes images, <see cref="ToolModel"/> (Ollama) and <see cref="GeminiModel"/> take tools and schemas.
/// And a <see cref="ProtectedGateway"/> (3 chats per minute per key, on a clock that stands still) for the limits.
/// </summary>
public sealed class OpenAIGateway : IAsyncLifetime
{
    public const string Key = "opossum-openai-5b1e7d3a90";
    public const string Model = "gemma3:1b";
    public const string ToolModel = "qwen3";
    public const string GeminiModel = "gemini-flash";

    public FakeOllama Ollama { get; private set; } = null!;
    public FakeGemini Gemini { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;
    public ProtectedGateway Limited { get; } = new();

    /// <summary>The base URL an OpenAI client is given: the gateway's <c>/v1</c>.</summary>
    public Uri BaseUrl => new(Gateway.Http.BaseAddress!, "/v1/");

    public Uri LimitedBaseUrl => new(Limited.Gateway.Http.BaseAddress!, "/v1/");

    public async Task InitializeAsync()
    {
        Ollama = await FakeOllama.StartAsync();
        Ollama.ChunkDelay = TimeSpan.FromMilliseconds(40); // a streamed answer reaches the gateway in several reads
        Gemini = await FakeGemini.StartAsync();
        Gateway = await GatewayHost.StartAsync(Ollama.BaseUrl, new Dictionary<string, string?>
        {
            ["OPOSSUM_API_KEYS"] = $"openai:{Key}",
            ["GEMINI_API_KEY"] = FakeGemini.ApiKey,
            ["GEMINI_BASE_URL"] = Gemini.BaseUrl.ToString(),
            ["Models:0:SupportsImages"] = "true",
            ["Models:1:Name"] = ToolModel,
            ["Models:1:Backend"] = "ollama",
            ["Models:1:SupportsTools"] = "true",
            ["Models:1:SupportsSchemas"] = "true",
            ["Models:2:Name"] = GeminiModel,
            ["Models:2:Backend"] = "gemini",
            ["Models:2:ApiName"] = "gemini-2.0-flash",
            ["Models:2:SupportsTools"] = "true",
            ["Models:2:SupportsSchemas"] = "true",
        });
        await Limited.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await Limited.DisposeAsync();
        await Gateway.DisposeAsync();
        await Ollama.DisposeAsync();
        await Gemini.DisposeAsync();
    }

    /// <summary>The names of the catalog's models, as <c>GET /v1/models</c> lists them.</summary>
    public static readonly string[] Models = [Model, ToolModel, GeminiModel];

    /// <summary>POSTs <paramref name="body"/> to <c>/v1/chat/completions</c> as raw JSON, with <paramref name="key"/> when given.</summary>
    public async Task<(HttpResponseMessage Response, string Body)> PostAsync(object body, string? key = Key, Action<HttpRequestMessage>? adjust = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/v1/chat/completions")
        {
            Content = new StringContent(body as string ?? JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"),
        };
        if (key is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        adjust?.Invoke(request);
        var response = await Gateway.SendUntracedAsync(request);
        return (response, await response.Content.ReadAsStringAsync());
    }

    public static JsonNode Error(string body) => JsonNode.Parse(body)!["error"]!;
}

[CollectionDefinition(Name)]
public sealed class OpenAICollection : ICollectionFixture<OpenAIGateway>
{
    public const string Name = "OpenAI door";
}
