using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Streaming;
using Opossum.Tests.Support;
using Xunit.Abstractions;

namespace Opossum.Tests.Cluster;

/// <summary>
/// Real processes on loopback: redis-server, two silos and the gateway in cluster mode. Each silo has an Ollama
/// server of its own, so the server that gets a generation tells which silo is writing the answer.
/// </summary>
[Collection(IsolatedClusterCollection.Name)]
public sealed class ClusterStreamingTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const string Stream = "subscription($input: ChatInput!) { chatStream(input: $input) { delta done conversationId traceId message } }";
    private static readonly TimeSpan ChunkDelay = TimeSpan.FromMilliseconds(200);

    private readonly List<OpossumProcess> _processes = [];
    private readonly FakeOllama[] _ollama = new FakeOllama[2];
    private OpossumProcess[] _silos = [];
    private RedisServer _redis = null!;
    private OpossumProcess _gateway = null!;

    public async Task InitializeAsync()
    {
        _redis = await RedisServer.StartAsync();
        for (var i = 0; i < 2; i++)
        {
            _ollama[i] = await FakeOllama.StartAsync();
            _ollama[i].ChunkDelay = ChunkDelay;
        }
        var clusterId = "streaming-" + Guid.NewGuid().ToString("N")[..8];
        Dictionary<string, string> Environment(string service, FakeOllama ollama)
        {
            var environment = ClusterEnvironment.For(_redis, clusterId, service, ollama.BaseUrl.ToString());
            return environment;
        }
        _silos = Enumerable.Range(0, 2)
            .Select(i => OpossumProcess.Start($"silo-{i + 1}", "Opossum.Silo", FreePorts.Next(), Environment($"opossum-silo-{i + 1}", _ollama[i])))
            .ToArray();
        _processes.AddRange(_silos);
        await Task.WhenAll(_silos.Select(s => s.WaitReadyAsync(TimeSpan.FromSeconds(60), "/health")));
        _gateway = OpossumProcess.Start("gateway", "Opossum.Gateway", FreePorts.Next(), Environment("opossum-gateway", _ollama[0]));
        _processes.Add(_gateway);
        await _gateway.WaitReadyAsync(TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
            await process.DisposeAsync();
        foreach (var ollama in _ollama)
            await ollama.DisposeAsync();
        await _redis.DisposeAsync();
    }

    [Fact]
    public async Task A_silo_killed_mid_stream_ends_the_stream_with_a_typed_error_and_records_nothing()
    {
        var graphql = new Uri(_gateway.Http, "/graphql");
        // A first stream warms the path up, so the one below is under way when the silo dies.
        var warm = await ReferenceClients.RunAsync(graphql, new ClientOp("sse", Stream, new { input = new { message = $"warm up {Guid.NewGuid():N}" } }));
        Assert.True(warm.Chunks(0)[^1]["done"]!.GetValue<bool>(), warm.ToString());
        var prompt = $"tell me a long story about the opossum who crossed the river at night to find food {Guid.NewGuid():N}";
        var streaming = ReferenceClients.RunAsync(graphql, new ClientOp("sse", Stream, new { input = new { message = prompt } }));

        // The server the generation reached says which silo writes it; once it has written a few chunks, that silo is killed.
        var writer = await WaitForAsync(() => Array.FindIndex(_ollama, o => o.CallsContaining(prompt) > 0) is var i and >= 0 ? i : null, TimeSpan.FromSeconds(30));
        await _ollama[writer].WaitForCallAsync(prompt, TimeSpan.FromSeconds(30), chunks: 5);
        _silos[writer].Kill();
        var killed = Stopwatch.StartNew();
        var events = await streaming;
        output.WriteLine($"silo-{writer + 1} killed while it wrote the answer; the stream ended {events.Of(0)[^1].Milliseconds:0} ms after it started, {killed.ElapsedMilliseconds} ms after the kill");
        output.WriteLine(events.ToString());

        // What the client saw: the chunks written before, no last chunk, then a typed error with the trace id.
        var chunks = events.Chunks(0);
        var words = ("echo: " + prompt).Split(' ').Length;
        Assert.InRange(chunks.Count, 1, words - 5);
        Assert.All(chunks, c => Assert.False(c["done"]!.GetValue<bool>()));
        Assert.Equal("complete", events.Of(0)[^1].Kind);
        var error = events.Of(0).Where(e => e.Kind == "next").Select(e => e.Payload!["errors"]).Single(e => e is not null)!.AsArray()[0]!;
        Assert.Equal("BACKEND_UNAVAILABLE", error["extensions"]!["code"]!.GetValue<string>());
        Assert.Contains("was cut after", error["message"]!.GetValue<string>());
        Assert.Equal(chunks[0]["traceId"]!.GetValue<string>(), error["extensions"]!["traceId"]!.GetValue<string>());
        Assert.True(killed.Elapsed < TimeSpan.FromSeconds(10), $"the error came {killed.Elapsed} after the kill");

        // What was kept: nothing. The conversation was never recorded, and nothing was cached: asking again generates anew,
        // on the silo that is left, and gets the whole answer.
        var id = chunks[0]["conversationId"]!.GetValue<string>();
        using var http = new HttpClient { BaseAddress = _gateway.Http, Timeout = TimeSpan.FromSeconds(60) };
        var conversation = await GraphQLAsync(http, "query($id: ID!) { conversation(id: $id) { turns { content } } }", new { id });
        Assert.Null(conversation["errors"]);
        Assert.Null(conversation["data"]!["conversation"]); // no such conversation: nothing of it was stored

        var survivor = _ollama[1 - writer];
        var again = await ReferenceClients.RunAsync(graphql, new ClientOp("sse", Stream, new { input = new { message = prompt } }));
        var last = again.Chunks(0)[^1];
        Assert.True(last["done"]!.GetValue<bool>(), again.ToString());
        Assert.Equal("echo: " + prompt, last["message"]!.GetValue<string>());
        Assert.Equal(1, survivor.CallsContaining(prompt));
        Assert.Equal(1, _ollama[writer].CallsContaining(prompt));
        var answered = await GraphQLAsync(http, "query($id: ID!) { conversation(id: $id) { turns { content } } }", new { id = last["conversationId"]!.GetValue<string>() });
        Assert.Equal([prompt, "echo: " + prompt], answered["data"]!["conversation"]!["turns"]!.AsArray().Select(t => t!["content"]!.GetValue<string>()));
    }

    private static async Task<JsonNode> GraphQLAsync(HttpClient http, string query, object variables)
    {
        using var response = await http.PostAsJsonAsync("/graphql", new { query, variables });
        return JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
    }

    private static async Task<int> WaitForAsync(Func<int?> found, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (found() is { } value) return value;
            await Task.Delay(20);
        }
        throw new TimeoutException($"no backend server received the generation within {timeout}");
    }
}
