using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;

namespace Opossum.Tests.Cluster;

/// <summary>Real processes on loopback: redis-server, silos and two gateways in cluster mode with keys for alice and bob.</summary>
[Collection(IsolatedClusterCollection.Name)]
public sealed class ClusterOwnershipTests : IAsyncLifetime
{
    private const string Alice = "alice-5d0c7e2a94", Bob = "bob-e18b4f6c23";
    private const string Read = "query($id: ID!) { conversation(id: $id) { id turns { role content } } }";
    private const string Chat = "mutation($id: ID, $m: String!) { chat(input: {conversationId: $id, message: $m, noCache: true}) { message conversationId } }";
    private readonly List<OpossumProcess> _processes = [];
    private RedisServer _redis = null!;
    private FakeOllama _ollama = null!;
    private string _clusterId = "";

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync();
        _ollama = await FakeOllama.StartAsync();
        _clusterId = "owners-" + Guid.NewGuid().ToString("N")[..8];
    }

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
            await process.DisposeAsync();
        await _ollama.DisposeAsync();
        await _redis.DisposeAsync();
    }

    private OpossumProcess Start(string name, string project)
    {
        var environment = ClusterEnvironment.For(_redis, _clusterId, "opossum-" + name, _ollama.BaseUrl.ToString());
        environment["OPOSSUM_API_KEYS"] = $"alice:{Alice},bob:{Bob}";
        var process = OpossumProcess.Start(name, project, FreePorts.Next(), environment);
        _processes.Add(process);
        return process;
    }

    [Fact]
    public async Task A_conversation_stays_its_owners_when_every_silo_restarts_and_another_gateway_serves_it()
    {
        var silos = new[] { Start("silo-1", "Opossum.Silo"), Start("silo-2", "Opossum.Silo") };
        await Task.WhenAll(silos.Select(s => s.WaitReadyAsync(TimeSpan.FromSeconds(60), "/health")));
        var gateways = new[] { Start("gateway-1", "Opossum.Gateway"), Start("gateway-2", "Opossum.Gateway") };
        await Task.WhenAll(gateways.Select(g => g.WaitReadyAsync(TimeSpan.FromSeconds(60))));

        var (_, started) = await PostAsync(gateways[0], Chat, new { m = $"alice remembers {Guid.NewGuid():N}" }, Alice);
        var id = started["data"]!["chat"]!["conversationId"]!.GetValue<string>();

        // Every silo dies; new ones read the conversation from Redis.
        foreach (var silo in silos)
            silo.Kill();
        var replacements = new[] { Start("silo-3", "Opossum.Silo"), Start("silo-4", "Opossum.Silo") };
        await Task.WhenAll(replacements.Select(s => s.WaitReadyAsync(TimeSpan.FromSeconds(60), "/health")));
        JsonNode? mine = null;
        var clock = Stopwatch.StartNew();
        while (mine is null && clock.Elapsed < TimeSpan.FromSeconds(45))
        {
            var (status, body) = await PostAsync(gateways[1], Read, new { id }, Alice);
            if (status == HttpStatusCode.OK && body["errors"] is null) mine = body["data"]!["conversation"];
            else await Task.Delay(250);
        }
        Assert.NotNull(mine);
        Assert.Equal(2, mine["turns"]!.AsArray().Count);

        var (_, bobReads) = await PostAsync(gateways[1], Read, new { id }, Bob);
        Assert.Null(bobReads["errors"]);
        Assert.Null(bobReads["data"]!["conversation"]);
        var (_, bobContinues) = await PostAsync(gateways[1], Chat, new { id, m = "what did alice say?" }, Bob);
        Assert.Equal("CONVERSATION_NOT_FOUND", bobContinues["errors"]![0]!["extensions"]!["code"]!.GetValue<string>());
        Assert.Equal(0, _ollama.CallsContaining("what did alice say?"));

        var (_, continued) = await PostAsync(gateways[1], Chat, new { id, m = $"alice again {Guid.NewGuid():N}" }, Alice);
        Assert.Equal(id, continued["data"]!["chat"]!["conversationId"]!.GetValue<string>());
        Assert.Equal(4, (await PostAsync(gateways[0], Read, new { id }, Alice)).Body["data"]!["conversation"]!["turns"]!.AsArray().Count);
    }

    private static async Task<(HttpStatusCode Status, JsonNode Body)> PostAsync(OpossumProcess gateway, string query, object? variables, string key)
    {
        using var http = new HttpClient { BaseAddress = gateway.Http, Timeout = TimeSpan.FromSeconds(30) };
        using var request = new HttpRequestMessage(HttpMethod.Post, "/graphql") { Content = JsonContent.Create(new { query, variables }) };
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var response = await http.SendAsync(request);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }
}
