using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;

namespace Opossum.Tests.Cluster;

/// <summary>
/// Real processes on loopback: a persistent redis-server, Opossum.Silo x2, the gateway in cluster mode and
/// two servers speaking Ollama's protocol behind one <c>OLLAMA_BASE_URL</c>, each running 2 generations at once.
/// </summary>
public sealed class ResilientCluster : IAsyncLifetime
{
    public const int Parallelism = 2;
    private readonly List<OpossumProcess> _processes = [];

    public RedisServer Redis { get; private set; } = null!;
    public FakeOllama OllamaA { get; private set; } = null!;
    public FakeOllama OllamaB { get; set; } = null!;
    public int OllamaBPort { get; private set; }
    public OpossumProcess Gateway { get; private set; } = null!;
    public IReadOnlyList<OpossumProcess> Processes => _processes;
    public HttpClient Http { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Redis = await RedisServer.StartAsync(persistent: true);
        OllamaA = await FakeOllama.StartAsync();
        OllamaB = await FakeOllama.StartAsync();
        OllamaBPort = OllamaB.BaseUrl.Port;
        var clusterId = "resilience-" + Guid.NewGuid().ToString("N")[..8];
        Dictionary<string, string> Environment(string service)
        {
            var environment = ClusterEnvironment.For(Redis, clusterId, service, $"{OllamaA.BaseUrl},{OllamaB.BaseUrl}");
            environment["OLLAMA_PARALLELISM"] = Parallelism.ToString();
            return environment;
        }
        var silos = Enumerable.Range(1, 2).Select(n => OpossumProcess.Start($"silo-{n}", "Opossum.Silo", FreePorts.Next(), Environment($"opossum-silo-{n}"))).ToList();
        _processes.AddRange(silos);
        await Task.WhenAll(silos.Select(s => s.WaitReadyAsync(TimeSpan.FromSeconds(60), "/health")));
        Gateway = OpossumProcess.Start("gateway", "Opossum.Gateway", FreePorts.Next(), Environment("opossum-gateway"));
        _processes.Add(Gateway);
        await Gateway.WaitReadyAsync(TimeSpan.FromSeconds(60));
        Http = new HttpClient { BaseAddress = Gateway.Http, Timeout = TimeSpan.FromSeconds(30) };
    }

    public async Task<JsonNode> GraphQLAsync(string query, object? variables = null)
    {
        using var response = await Http.PostAsJsonAsync("/graphql", new { query, variables });
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    public Task<JsonNode> ChatAsync(string message, string? conversationId = null) => GraphQLAsync(
        "mutation($m: String!, $id: ID) { chat(input: {message: $m, conversationId: $id, noCache: true}) { message conversationId traceId } }",
        new { m = message, id = conversationId });

    public async Task<JsonArray> ServersAsync() =>
        (await GraphQLAsync("{ services { name servers { url state inFlight parallelism consecutiveFailures lastError } } }"))["data"]!["services"]!
            .AsArray().Single(s => s!["name"]!.GetValue<string>() == "ollama")!["servers"]!.AsArray();

    public async Task DisposeAsync()
    {
        Http?.Dispose();
        foreach (var process in _processes)
            await process.DisposeAsync();
        await OllamaA.DisposeAsync();
        await OllamaB.DisposeAsync();
        await Redis.DisposeAsync();
    }
}
