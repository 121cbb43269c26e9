using System.Net;
using Microsoft.Extensions.Time.Testing;
using Opossum.Grains;
using Opossum.Tests.Support;
using Orleans.TestingHost;

namespace Opossum.Tests.Routing;

/// <summary>
/// A two-silo test cluster with Gemini and Ollama (both loopback servers speaking their protocols),
/// grain state in a real redis-server, and a fake clock for cool-downs.
/// </summary>
public sealed class RoutingFixture : IAsyncLifetime
{
    public const string Gemini = "gemini-thinking";
    public const string Gemma = "gemma3:1b";
    public const string Llava = "llava";
    public static readonly TimeSpan OllamaTimeout = TimeSpan.FromSeconds(2);

    public FakeOllama Ollama { get; private set; } = null!;
    public FakeGemini GeminiServer { get; private set; } = null!;
    public RedisServer Redis { get; private set; } = null!;
    public InProcessTestCluster Cluster { get; private set; } = null!;
    public FakeTimeProvider Clock { get; } = new(DateTimeOffset.UtcNow);
    public IGrainFactory Grains => Cluster.Client;

    public async Task InitializeAsync()
    {
        Ollama = await FakeOllama.StartAsync();
        GeminiServer = await FakeGemini.StartAsync();
        Redis = await RedisServer.StartAsync();
        Cluster = await OpossumTestCluster.DeployAsync(new Dictionary<string, string?>
        {
            ["Backends:Ollama:BaseUrl"] = Ollama.BaseUrl.ToString(),
            ["Backends:Ollama:RequestTimeout"] = OllamaTimeout.ToString(),
            ["Backends:Gemini:BaseUrl"] = GeminiServer.BaseUrl.ToString(),
            ["Backends:Gemini:ApiKey"] = FakeGemini.ApiKey,
            ["Opossum:RedisConnection"] = Redis.ConnectionString,
            ["Models:0:Name"] = Gemini,
            ["Models:0:Backend"] = "gemini",
            ["Models:0:ApiName"] = "gemini-2.0-flash",
            ["Models:0:SupportsImages"] = "true",
            ["Models:1:Name"] = Gemma,
            ["Models:1:Backend"] = "ollama",
            ["Models:2:Name"] = Llava,
            ["Models:2:Backend"] = "ollama",
            ["Models:2:SupportsImages"] = "true",
            ["Opossum:Availability:CheckPeriod"] = "01:00:00",
            ["Opossum:Availability:DegradedLatency"] = "00:00:00.200",
        }, Clock);
    }

    public Task<ChatReply> ChatAsync(string message, string? model = null, bool noCache = true, ImageAttachment? image = null) =>
        Grains.GetGrain<IConversationGrain>(Guid.NewGuid().ToString("N")).Chat(new ChatCommand(message, model, noCache, true, image));

    public IServiceGrain Service(string name) => Grains.GetGrain<IServiceGrain>(name);

    /// <summary>Healthy backends and closed circuits again, so each test starts from the same place.</summary>
    public async Task ResetAsync()
    {
        Ollama.TagsStatus = HttpStatusCode.OK;
        Ollama.TagsDelay = TimeSpan.Zero;
        Ollama.Failures.Clear();
        GeminiServer.ModelsStatus = HttpStatusCode.OK;
        GeminiServer.Behaviours.Clear();
        await Service("ollama").Check();
        await Service("gemini").Check();
    }

    /// <summary>Waits for one-way reports to land: the condition on the service's health must hold.</summary>
    public async Task<ServiceHealth> WaitForAsync(string service, Func<ServiceHealth, bool> condition)
    {
        for (var i = 0; i < 100; i++)
        {
            var health = await Service(service).GetHealth();
            if (condition(health)) return health;
            await Task.Delay(20);
        }
        return await Service(service).GetHealth();
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        await Ollama.DisposeAsync();
        await GeminiServer.DisposeAsync();
        await Redis.DisposeAsync();
    }
}

[CollectionDefinition(Name)]
public sealed class RoutingCollection : ICollectionFixture<RoutingFixture>
{
    public const string Name = "routing";
}
