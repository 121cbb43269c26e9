using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;

namespace Opossum.Tests.Cluster;

/// <summary>
/// Real processes on loopback: redis-server, two silos and two gateways in cluster mode with the same keys and limits. Every chat
/// reserves the whole token budget while it runs, so a key's chats run one at a time: each must have settled for the next to start.
/// </summary>
[Collection(IsolatedClusterCollection.Name)]
public sealed class ClusterLimitsTests : IAsyncLifetime
{
    private const string Key = "shared-3b9f1e6a0c7d";
    private const int PerMinute = 4;
    private static readonly TimeSpan GrainCallTimeout = TimeSpan.FromSeconds(20);
    private readonly List<OpossumProcess> _processes = [];
    private RedisServer _redis = null!;
    private FakeOllama _ollama = null!;
    private OpossumProcess[] _gateways = [];
    private OpossumProcess[] _silos = [];

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync();
        _ollama = await FakeOllama.StartAsync();
        var clusterId = "limits-" + Guid.NewGuid().ToString("N")[..8];
        Dictionary<string, string> Environment(string service)
        {
            var environment = ClusterEnvironment.For(_redis, clusterId, service, _ollama.BaseUrl.ToString());
            environment["OPOSSUM_API_KEYS"] = $"shared:{Key}";
            environment["Opossum__Limits__ChatsPerMinute"] = PerMinute.ToString();
            environment["Opossum__Limits__TokensPerDay"] = "1000000";
            environment["Opossum__Limits__AnswerTokens"] = "1000000";
            environment["Opossum__GrainCallTimeout"] = GrainCallTimeout.ToString();
            return environment;
        }
        _silos = Enumerable.Range(1, 2).Select(n => OpossumProcess.Start($"silo-{n}", "Opossum.Silo", FreePorts.Next(), Environment($"opossum-silo-{n}"))).ToArray();
        _processes.AddRange(_silos);
        await Task.WhenAll(_silos.Select(s => s.WaitReadyAsync(TimeSpan.FromSeconds(60), "/health")));
        _gateways = Enumerable.Range(1, 2).Select(n => OpossumProcess.Start($"gateway-{n}", "Opossum.Gateway", FreePorts.Next(), Environment($"opossum-gateway-{n}"))).ToArray();
        _processes.AddRange(_gateways);
        await Task.WhenAll(_gateways.Select(g => g.WaitReadyAsync(TimeSpan.FromSeconds(60))));
    }

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
            await process.DisposeAsync();
        await _ollama.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task Two_gateways_share_one_keys_chat_limit()
    {
        // The limit counts per UTC minute: start early enough in one that the chats below fall into it.
        if (DateTime.UtcNow.Second >= 45)
            await Task.Delay(TimeSpan.FromSeconds(61 - DateTime.UtcNow.Second));

        for (var i = 0; i < PerMinute; i++)
        {
            var (status, body) = await ChatAsync(_gateways[i % 2], $"shared limit {i} {Guid.NewGuid():N}");
            Assert.True(status == HttpStatusCode.OK, body.ToJsonString());
        }
        foreach (var gateway in _gateways)
        {
            var (status, body) = await ChatAsync(gateway, $"over the shared limit {Guid.NewGuid():N}");
            Assert.Equal(HttpStatusCode.TooManyRequests, status);
            Assert.Equal("RATE_LIMITED", body["errors"]![0]!["extensions"]!["code"]!.GetValue<string>());
        }
        var usage = await PostAsync(_gateways[1], "{ usage { key chatsThisMinute chatsPerMinute } }", null);
        Assert.Equal("shared", usage.Body["data"]!["usage"]!["key"]!.GetValue<string>());
        Assert.Equal(PerMinute, usage.Body["data"]!["usage"]!["chatsThisMinute"]!.GetValue<int>());
        Assert.Equal(PerMinute, _ollama.Calls.Count(c => c.LastUserMessage.StartsWith("shared limit", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_silo_that_dies_keeps_the_tokens_counted_and_never_doubles_the_chats()
    {
        if (DateTime.UtcNow.Second >= 40)
            await Task.Delay(TimeSpan.FromSeconds(61 - DateTime.UtcNow.Second));
        for (var i = 0; i < 3; i++)
            Assert.Equal(HttpStatusCode.OK, (await ChatAsync(_gateways[i % 2], $"count me {i} {Guid.NewGuid():N}")).Status);
        var before = (await PostAsync(_gateways[0], "{ usage { chatsThisMinute tokensToday } }", null)).Body["data"]!["usage"]!;
        Assert.Equal(3, before["chatsThisMinute"]!.GetValue<int>());
        var tokens = before["tokensToday"]!.GetValue<long>();
        Assert.True(tokens > 0);

        _silos[0].Kill();
        // The key's grain lived on either silo: its minute's count is kept or starts again, its tokens are kept.
        JsonNode? after = null;
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (after is null && clock.Elapsed < TimeSpan.FromSeconds(30))
        {
            var (status, body) = await PostAsync(_gateways[1], "{ usage { chatsThisMinute tokensToday } }", null);
            if (status == HttpStatusCode.OK && body["errors"] is null) after = body["data"]!["usage"];
            else await Task.Delay(250);
        }
        Assert.NotNull(after);
        Assert.Equal(tokens, after["tokensToday"]!.GetValue<long>());
        Assert.InRange(after["chatsThisMinute"]!.GetValue<int>(), 0, 3);
        Assert.Equal(HttpStatusCode.OK, (await ChatAsync(_gateways[1], $"after the kill {Guid.NewGuid():N}")).Status);
    }

    [Fact]
    public async Task A_reservation_of_a_gateway_that_died_mid_chat_is_let_go_after_the_grain_call_timeout()
    {
        _ollama.Delays["held by a gateway that dies"] = TimeSpan.FromMinutes(2);
        var held = ChatAsync(_gateways[0], $"held by a gateway that dies {Guid.NewGuid():N}");
        JsonNode? usage = null;
        for (var i = 0; i < 100 && usage?["tokensReserved"]!.GetValue<long>() is not > 0; i++)
        {
            await Task.Delay(100);
            usage = (await PostAsync(_gateways[1], "{ usage { tokensReserved } }", null)).Body["data"]?["usage"];
        }
        Assert.True(usage?["tokensReserved"]!.GetValue<long>() > 0, usage?.ToJsonString());

        _gateways[0].Kill();
        await Assert.ThrowsAnyAsync<Exception>(() => held);
        var waited = System.Diagnostics.Stopwatch.StartNew();
        var (status, body) = await ChatAsync(_gateways[1], $"while the dead gateway's chat holds the budget {Guid.NewGuid():N}");
        Assert.Equal(HttpStatusCode.TooManyRequests, status);
        Assert.Contains("reserved by chats under way", body["errors"]![0]!["message"]!.GetValue<string>());

        // Nobody settles the dead gateway's chat: its reservation expires, and the key chats again.
        while (status != HttpStatusCode.OK && waited.Elapsed < GrainCallTimeout + TimeSpan.FromSeconds(15))
        {
            await Task.Delay(TimeSpan.FromSeconds(1));
            (status, body) = await ChatAsync(_gateways[1], $"after the reservation expired {Guid.NewGuid():N}");
        }
        Assert.True(status == HttpStatusCode.OK, body.ToJsonString());
        Assert.InRange(waited.Elapsed, TimeSpan.Zero, GrainCallTimeout + TimeSpan.FromSeconds(2));
    }

    private Task<(HttpStatusCode Status, JsonNode Body)> ChatAsync(OpossumProcess gateway, string message) =>
        PostAsync(gateway, "mutation($m: String!) { chat(input: {message: $m, noCache: true}) { message } }", new { m = message });

    private static async Task<(HttpStatusCode Status, JsonNode Body)> PostAsync(OpossumProcess gateway, string query, object? variables)
    {
        using var http = new HttpClient { BaseAddress = gateway.Http, Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", Key);
        using var response = await http.PostAsJsonAsync("/graphql", new { query, variables });
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }
}
