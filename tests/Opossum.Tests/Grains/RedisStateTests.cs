using Microsoft.Extensions.DependencyInjection;
using Opossum.Grains;
using Opossum.Grains.Conversations;
using Opossum.Tests.Routing;
using Opossum.Tests.Support;
using Orleans.Storage;
using StackExchange.Redis;

namespace Opossum.Tests.Grains;

/// <summary>Grain state as a Redis-backed cluster stores it in a real redis-server, and reads it back after an upgrade.</summary>
[Collection(RoutingCollection.Name)]
public sealed class RedisStateTests(RoutingFixture fixture) : IAsyncLifetime
{
    private ConnectionMultiplexer _redis = null!;

    public async Task InitializeAsync()
    {
        await fixture.ResetAsync();
        _redis = await ConnectionMultiplexer.ConnectAsync(fixture.Redis.ConnectionString);
    }

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task A_one_shot_conversation_is_stored_in_under_half_the_json_and_continues()
    {
        var id = Guid.NewGuid().ToString("N");
        await StartAsync(id, $"My name is Ada {id}");

        var stored = (string?)await _redis.GetDatabase().HashGetAsync(await KeyOfAsync(id), "data");
        Assert.NotNull(stored);
        Assert.NotEqual('{', stored[0]);
        foreach (var provider in new[] { ProviderNames.ConversationStorage, ProviderNames.CacheStorage, ProviderNames.Storage })
            RepositoryDocs.AssertStates("docs/operations.md", $"`{provider}`");
        var json = StorageJson().Serialize(Decode(stored)).ToString();
        Assert.True(stored.Length * 2 <= json.Length, $"stored {stored.Length} characters against {json.Length} as JSON");

        await ContinueAsync(id, $"What is my name? {id}");
        Assert.Contains(new FakeMessage("user", $"My name is Ada {id}"), LastCallWith($"What is my name? {id}").Messages);
    }

    [Fact]
    public async Task A_conversation_an_earlier_version_stored_as_json_still_continues_and_is_then_stored_anew()
    {
        var id = Guid.NewGuid().ToString("N");
        await StartAsync(id, $"My name is Grace {id}");
        var key = await KeyOfAsync(id);
        var db = _redis.GetDatabase();
        // What a silo of an earlier version wrote: the provider's default JSON serializer.
        var json = StorageJson().Serialize(Decode((string)(await db.HashGetAsync(key, "data"))!)).ToString();
        Assert.StartsWith("{", json);
        await db.HashSetAsync(key, "data", json);

        await ContinueAsync(id, $"What is my name? {id}");

        Assert.Contains(new FakeMessage("user", $"My name is Grace {id}"), LastCallWith($"What is my name? {id}").Messages);
        var rewritten = (string?)await db.HashGetAsync(key, "data");
        Assert.NotNull(rewritten);
        Assert.NotEqual('{', rewritten[0]);
        Assert.Equal(4, Decode(rewritten).Turns.Count);
    }

    /// <summary>The first step of a rolling upgrade from a version that reads only JSON: this version writing JSON.</summary>
    [Fact]
    public async Task With_the_json_format_a_silo_writes_what_an_earlier_version_reads()
    {
        await using var cluster = await OpossumTestCluster.DeployAsync(new Dictionary<string, string?>
        {
            ["Backends:Ollama:BaseUrl"] = fixture.Ollama.BaseUrl.ToString(),
            ["Models:0:Name"] = RoutingFixture.Gemma,
            ["Models:0:Backend"] = "ollama",
            ["Opossum:RedisConnection"] = fixture.Redis.ConnectionString,
            ["Opossum:RedisStateFormat"] = "json",
            ["Opossum:Availability:CheckPeriod"] = "01:00:00",
        }, TimeProvider.System);
        var id = Guid.NewGuid().ToString("N");
        await cluster.Client.GetGrain<IConversationStarterGrain>(ConversationStarters.KeyFor(id))
            .Start(id, new ChatCommand($"My name is Edsger {id}", RoutingFixture.Gemma, NoCache: true, StartsConversation: true));

        var stored = (string?)await _redis.GetDatabase().HashGetAsync(await KeyOfAsync(id), "data");

        Assert.NotNull(stored);
        var state = StorageJson().Deserialize<ConversationState>(BinaryData.FromString(stored));
        Assert.Equal($"My name is Edsger {id}", state!.Turns[0].Content);
    }

    private Task StartAsync(string id, string message) =>
        fixture.Grains.GetGrain<IConversationStarterGrain>(ConversationStarters.KeyFor(id))
            .Start(id, new ChatCommand(message, RoutingFixture.Gemma, NoCache: true, StartsConversation: true));

    private Task ContinueAsync(string id, string message) =>
        fixture.Grains.GetGrain<IConversationGrain>(id).Chat(new ChatCommand(message, RoutingFixture.Gemma, NoCache: true, StartsConversation: false));

    private ChatCall LastCallWith(string message) => fixture.Ollama.Calls.Last(c => c.LastUserMessage == message);

    private async Task<RedisKey> KeyOfAsync(string conversationId)
    {
        var server = _redis.GetServer(_redis.GetEndPoints().Single());
        await foreach (var key in server.KeysAsync(pattern: $"*conversation*{conversationId}*"))
            return key;
        throw new Xunit.Sdk.XunitException($"No Redis key holds conversation {conversationId}.");
    }

    private IServiceProvider SiloServices => fixture.Cluster.Silos[0].SiloHost.Services;

    /// <summary>The silo's default storage serializer: Newtonsoft JSON with type names, what earlier versions wrote.</summary>
    private IGrainStorageSerializer StorageJson() => SiloServices.GetRequiredService<IGrainStorageSerializer>();

    private ConversationState Decode(string stored) =>
        new Opossum.Grains.Storage.RedisStateSerializer(SiloServices.GetRequiredService<Orleans.Serialization.Serializer>(), StorageJson())
            .Deserialize<ConversationState>(BinaryData.FromString(stored))!;
}
