using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;
using Xunit.Abstractions;

namespace Opossum.Tests.Cluster;

[Collection(IsolatedClusterCollection.Name)]
public sealed class ClusterResilienceTests(ResilientCluster cluster, ITestOutputHelper output) : IClassFixture<ResilientCluster>
{
    [Fact]
    public async Task Two_ollama_servers_share_the_load_within_their_parallelism_and_one_that_dies_is_skipped()
    {
        var tag = $"shared {Guid.NewGuid():N}";
        cluster.OllamaA.Delays[tag] = TimeSpan.FromMilliseconds(400);
        cluster.OllamaB.Delays[tag] = TimeSpan.FromMilliseconds(400);

        // 16 chats at once, through both silos: each server runs at most its 2 at once, cluster-wide, and gets half.
        var replies = await Task.WhenAll(Enumerable.Range(0, 16).Select(i => cluster.ChatAsync($"{tag} #{i}")));

        Assert.All(replies, r => Assert.Null(r["errors"]));
        var onA = cluster.OllamaA.CallsContaining(tag);
        var onB = cluster.OllamaB.CallsContaining(tag);
        output.WriteLine($"16 chats: {onA} on server A (max {cluster.OllamaA.MaxInFlight("gemma3:1b")} at once), {onB} on server B (max {cluster.OllamaB.MaxInFlight("gemma3:1b")} at once)");
        Assert.Equal(16, onA + onB);
        Assert.InRange(onA, 6, 10);
        Assert.Equal(ResilientCluster.Parallelism, cluster.OllamaA.MaxInFlight("gemma3:1b"));
        Assert.Equal(ResilientCluster.Parallelism, cluster.OllamaB.MaxInFlight("gemma3:1b"));

        // Server B dies: every chat is still answered (by A); B's circuit opens and it gets no more traffic.
        await cluster.OllamaB.DisposeAsync();
        var after = new List<JsonNode>();
        for (var i = 0; i < 8; i++)
            after.Add(await cluster.ChatAsync($"after B died {Guid.NewGuid():N}"));
        Assert.All(after, r => Assert.Null(r["errors"]));
        // Slots are given back one-way, just after the answer: wait for the last of them.
        var servers = await cluster.ServersAsync();
        for (var i = 0; i < 50 && servers.Any(s => s!["inFlight"]!.GetValue<int>() > 0); i++)
        {
            await Task.Delay(100);
            servers = await cluster.ServersAsync();
        }
        output.WriteLine("servers after B died: " + servers.ToJsonString());
        var b = servers.Single(s => s!["url"]!.GetValue<string>() == $"http://127.0.0.1:{cluster.OllamaBPort}/")!;
        Assert.Equal("OFFLINE", b["state"]!.GetValue<string>());
        Assert.Contains("unreachable", b["lastError"]!.GetValue<string>());
        Assert.All(servers, s => Assert.Equal(0, s!["inFlight"]!.GetValue<int>()));

        // B comes back where it was: an operator's check closes its circuit.
        cluster.OllamaB = await FakeOllama.StartAsync(cluster.OllamaBPort);
        await cluster.GraphQLAsync("mutation { forceServiceCheck(service: \"ollama\") { name } }");
        Assert.All(await cluster.ServersAsync(), s => Assert.Equal("ONLINE", s!["state"]!.GetValue<string>()));
    }

    [Fact]
    public async Task A_stream_through_the_cluster_starts_and_continues_a_conversation_over_both_transports()
    {
        const string Stream = "subscription($input: ChatInput!) { chatStream(input: $input) { delta done conversationId message } }";
        var graphql = new Uri(cluster.Gateway.Http, "/graphql");
        cluster.OllamaA.ChunkDelay = cluster.OllamaB.ChunkDelay = TimeSpan.FromMilliseconds(100);
        try
        {
            var first = $"stream through the cluster {Guid.NewGuid():N}";
            var started = await Streaming.ReferenceClients.RunAsync(graphql, new Streaming.ClientOp("sse", Stream, new { input = new { message = first } }));
            var chunks = started.Chunks(0);
            Assert.True(chunks.Count >= 5, started.ToString());
            Assert.Equal("echo: " + first, chunks[^1]["message"]!.GetValue<string>());
            var id = chunks[^1]["conversationId"]!.GetValue<string>();

            var second = $"and continue it {Guid.NewGuid():N}";
            var continued = await Streaming.ReferenceClients.RunAsync(graphql, new Streaming.ClientOp("ws", Stream, new { input = new { message = second, conversationId = id } }));
            Assert.Equal("echo: " + second, continued.Chunks(0)[^1]["message"]!.GetValue<string>());
            Assert.Equal("complete", continued.Of(0)[^1].Kind);

            var turns = (await cluster.GraphQLAsync("query($id: ID!) { conversation(id: $id) { turns { content } } }", new { id }))["data"]!["conversation"]!["turns"]!.AsArray();
            Assert.Equal([first, "echo: " + first, second, "echo: " + second], turns.Select(t => t!["content"]!.GetValue<string>()));
        }
        finally
        {
            cluster.OllamaA.ChunkDelay = cluster.OllamaB.ChunkDelay = TimeSpan.Zero;
        }
    }

    [Fact]
    public async Task A_redis_outage_fails_requests_fast_and_typed_and_the_cluster_answers_again_when_it_is_back()
    {
        var first = await cluster.ChatAsync($"before the outage {Guid.NewGuid():N}");
        var conversationId = first["data"]!["chat"]!["conversationId"]!.GetValue<string>();
        var before = await cluster.ChatAsync($"still before {Guid.NewGuid():N}", conversationId);
        Assert.Null(before["errors"]);

        await cluster.Redis.KillAsync();
        var killed = Stopwatch.StartNew();

        // While Redis is down: a new conversation, a continued one, a cached chat (its cache entry must be read) — each
        // fails fast, typed, with a trace id.
        var failures = new List<(string Code, string Message, string? TraceId, TimeSpan Took)>();
        for (var i = 0; i < 9; i++)
        {
            var started = Stopwatch.GetTimestamp();
            var message = $"during the outage {i} {Guid.NewGuid():N}";
            var result = (i % 3) switch
            {
                0 => await cluster.ChatAsync(message),
                1 => await cluster.ChatAsync(message, conversationId),
                _ => await cluster.GraphQLAsync("mutation($m: String!) { chat(input: {message: $m}) { message traceId } }", new { m = message }),
            };
            var took = Stopwatch.GetElapsedTime(started);
            output.WriteLine($"outage chat {i} after {killed.Elapsed.TotalMilliseconds:0} ms: {result.ToJsonString()}");
            var error = Assert.Single(Assert.IsType<JsonArray>(result["errors"]))!;
            failures.Add((error["extensions"]!["code"]!.GetValue<string>(), error["message"]!.GetValue<string>(),
                error["extensions"]!["traceId"]?.GetValue<string>(), took));
        }
        using var ready = await cluster.Http.GetAsync("/health/ready");
        foreach (var f in failures)
            output.WriteLine($"during the outage: {f.Code} in {f.Took.TotalMilliseconds:0} ms: {f.Message}");
        output.WriteLine($"/health/ready during the outage: {(int)ready.StatusCode}");
        Assert.All(failures, f =>
        {
            Assert.Equal("STORAGE_UNAVAILABLE", f.Code);
            Assert.Contains("Redis", f.Message);
            Assert.Matches("^[0-9a-f]{32}$", f.TraceId);
            Assert.True(f.Took < TimeSpan.FromSeconds(2), $"a request took {f.Took} to fail");
        });
        Assert.Equal(HttpStatusCode.ServiceUnavailable, ready.StatusCode);

        // Redis comes back with what its append-only file kept: the cluster answers again within seconds.
        await cluster.Redis.RestartAsync();
        var restarted = Stopwatch.StartNew();
        JsonNode? answered = null;
        while (restarted.Elapsed < TimeSpan.FromSeconds(30))
        {
            var attempt = await cluster.ChatAsync($"after the outage {Guid.NewGuid():N}", conversationId);
            if (attempt["errors"] is null)
            {
                answered = attempt;
                break;
            }
            await Task.Delay(100);
        }
        var answeredAfter = restarted.Elapsed;
        var readyAfter = await WaitForReadyAsync(restarted);
        output.WriteLine($"Redis down for {killed.Elapsed.TotalSeconds - answeredAfter.TotalSeconds:0.0} s; a chat answered {answeredAfter.TotalSeconds:0.00} s after it was back, /health/ready 200 after {readyAfter.TotalSeconds:0.00} s");
        Assert.NotNull(answered);
        Assert.True(answeredAfter < TimeSpan.FromSeconds(5), $"the first chat was answered {answeredAfter} after Redis was back");
        Assert.True(readyAfter < TimeSpan.FromSeconds(5), $"ready {readyAfter} after Redis was back");

        // Nothing that Redis kept is lost, and nothing of a failed request was recorded.
        var turns = (await cluster.GraphQLAsync("query($id: ID!) { conversation(id: $id) { turns { role content } } }", new { id = conversationId }))
            ["data"]!["conversation"]!["turns"]!.AsArray().Where(t => t!["role"]!.GetValue<string>() == "user").Select(t => t!["content"]!.GetValue<string>()).ToList();
        Assert.Equal(3, turns.Count);
        Assert.StartsWith("before the outage", turns[0]);
        Assert.StartsWith("still before", turns[1]);
        Assert.StartsWith("after the outage", turns[2]);
    }

    private async Task<TimeSpan> WaitForReadyAsync(Stopwatch since)
    {
        while (since.Elapsed < TimeSpan.FromSeconds(30))
        {
            using var response = await cluster.Http.GetAsync("/health/ready");
            if (response.IsSuccessStatusCode) return since.Elapsed;
            await Task.Delay(100);
        }
        return since.Elapsed;
    }
}
