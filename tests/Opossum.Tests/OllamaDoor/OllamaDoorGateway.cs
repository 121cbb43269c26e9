using System.Net.Http.Headers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Opossum.Grains;
using Opossum.Tests.Support;

namespace Opossum.Tests.OllamaDoor;

/// <summary>
/// Two standalone gateways in front of one loopback Ollama, both with client keys and four models in the catalog
/// (an Ollama text model, an Ollama model that takes images, a Gemini model, an Ollama model that takes tools and schemas): <see cref="Gateway"/> without a chat limit,
/// <see cref="Limited"/> with one chat per minute per key, on a clock that stands still.
/// </summary>
public sealed class OllamaDoorGateway : IAsyncLifetime
{
    public const string Model = "gemma3:1b", ImageModel = "llava:7b", GeminiModel = "gemini-2.5-flash", ToolModel = "qwen3";
    public const string NpmKey = "npm-3f9a0c1d7e", SharpKey = "sharp-b2e48d6a10", RawKey = "raw-6c0d93e5ab";
    public const string LimitedNpmKey = "limited-npm-8e1f", LimitedSharpKey = "limited-sharp-4c2d", LimitedRawKey = "limited-raw-9a7b";

    public FakeOllama Ollama { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;
    public GatewayHost Limited { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        // Apart, so that the gateway reads a streamed answer in several chunks.
        Ollama = await FakeOllama.StartAsync();
        Ollama.ChunkDelay = TimeSpan.FromMilliseconds(20);
        Gateway = await GatewayHost.StartAsync(Ollama.BaseUrl, Settings($"npm:{NpmKey},sharp:{SharpKey},raw:{RawKey}", chatsPerMinute: 0));
        var clock = new FakeTimeProvider(new DateTimeOffset(2026, 12, 2, 12, 0, 10, TimeSpan.Zero));
        Limited = await GatewayHost.StartAsync(Ollama.BaseUrl, Settings($"npm:{LimitedNpmKey},sharp:{LimitedSharpKey},raw:{LimitedRawKey}", chatsPerMinute: 1),
            services => services.AddKeyedSingleton<TimeProvider>(ProviderNames.Clock, clock));
    }

    private static Dictionary<string, string?> Settings(string keys, int chatsPerMinute) => new()
    {
        ["OPOSSUM_API_KEYS"] = keys,
        ["Opossum:Limits:ChatsPerMinute"] = chatsPerMinute.ToString(),
        ["Models:0:Name"] = Model,
        ["Models:0:Backend"] = "ollama",
        ["Models:1:Name"] = ImageModel,
        ["Models:1:Backend"] = "ollama",
        ["Models:1:SupportsImages"] = "true",
        ["Models:2:Name"] = GeminiModel,
        ["Models:2:Backend"] = "gemini",
        ["Models:3:Name"] = ToolModel,
        ["Models:3:Backend"] = "ollama",
        ["Models:3:SupportsTools"] = "true",
        ["Models:3:SupportsSchemas"] = "true",
    };

    /// <summary>A POST of <paramref name="json"/> to <paramref name="path"/> of <paramref name="host"/> (the unlimited gateway by default) with <paramref name="key"/>.</summary>
    public Task<HttpResponseMessage> PostAsync(string path, string json, string? key = RawKey, GatewayHost? host = null, string? cacheControl = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, path) { Content = new StringContent(json) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        if (key is not null)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        if (cacheControl is not null)
            request.Headers.CacheControl = CacheControlHeaderValue.Parse(cacheControl);
        return (host ?? Gateway).SendUntracedAsync(request);
    }

    public async Task DisposeAsync()
    {
        await Limited.DisposeAsync();
        await Gateway.DisposeAsync();
        await Ollama.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class OllamaDoorCollection : ICollectionFixture<OllamaDoorGateway>
{
    public const string Name = "ollama-door";
}
