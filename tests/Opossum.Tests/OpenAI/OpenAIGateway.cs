using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Protection;
using Opossum.Tests.Support;

namespace Opossum.Tests.OpenAI;

/// <summary>
/// A standalone gateway with a client key and no limits before a loopback Ollama whose model takes images (streaming a
/// word every 40 ms), and a
/// <see cref="ProtectedGateway"/> (3 chats per minute per key, on a clock that stands still) for the limits.
/// </summary>
public sealed class OpenAIGateway : IAsyncLifetime
{
    public const string Key = "opossum-openai-5b1e7d3a90";
    public const string Model = "gemma3:1b";

    public FakeOllama Ollama { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;
    public ProtectedGateway Limited { get; } = new();

    /// <summary>The base URL an OpenAI client is given: the gateway's <c>/v1</c>.</summary>
    public Uri BaseUrl => new(Gateway.Http.BaseAddress!, "/v1/");

    public Uri LimitedBaseUrl => new(Limited.Gateway.Http.BaseAddress!, "/v1/");

    public async Task InitializeAsync()
    {
        Ollama = await FakeOllama.StartAsync();
        Ollama.ChunkDelay = TimeSpan.FromMilliseconds(40); // a streamed answer reaches the gateway in several reads
        Gateway = await GatewayHost.StartAsync(Ollama.BaseUrl, new Dictionary<string, string?>
        {
            ["OPOSSUM_API_KEYS"] = $"openai:{Key}",
            ["Models:0:SupportsImages"] = "true",
        });
        await Limited.InitializeAsync();
    }

    public async Task DisposeAsync()
    {
        await Limited.DisposeAsync();
        await Gateway.DisposeAsync();
        await Ollama.DisposeAsync();
    }

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
