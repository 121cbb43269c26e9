using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Opossum.Grains.Caching;
using Opossum.ServiceDefaults.Telemetry;
using Opossum.Tests.Routing;
using Opossum.Tests.Support;
using StackExchange.Redis;

namespace Opossum.Tests.Telemetry;

/// <summary>Cluster-mode telemetry kept in Redis: trace summaries from every process, and the aggregated cache counters.</summary>
[Collection(RoutingCollection.Name)]
public sealed class RedisTelemetryTests(RoutingFixture fixture)
{
    [Fact]
    public async Task Spans_from_two_processes_merge_into_one_summary_in_traces_recent()
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(fixture.Redis.ConnectionString);
        var gateway = new RedisTraceSummaryStore(redis, NullLogger<RedisTraceSummaryStore>.Instance);
        var silo = new RedisTraceSummaryStore(redis, NullLogger<RedisTraceSummaryStore>.Instance);
        await gateway.StartAsync(CancellationToken.None);
        await silo.StartAsync(CancellationToken.None);
        try
        {
            var traceId = Guid.NewGuid().ToString("N");
            var t0 = DateTime.UtcNow;
            silo.Record(new SpanRecord(traceId, "model.generate", t0.AddMilliseconds(5), t0.AddMilliseconds(80), true, "opossum-silo", "ollama"));
            gateway.Record(new SpanRecord(traceId, "POST /graphql", t0, t0.AddMilliseconds(100), false, "opossum-gateway"));
            gateway.Record(new SpanRecord(traceId, "mutation Chat", t0.AddMilliseconds(1), t0.AddMilliseconds(99), false, "opossum-gateway"));

            TraceSummary? summary = null;
            for (var i = 0; i < 100 && summary?.SpanCount != 3; i++)
            {
                await Task.Delay(20);
                summary = (await gateway.RecentAsync(10, CancellationToken.None)).FirstOrDefault(s => s.TraceId == traceId);
            }

            Assert.NotNull(summary);
            Assert.Equal("POST /graphql", summary.RootName);
            Assert.Equal(3, summary.SpanCount);
            Assert.Equal(100, summary.DurationMs, 1);
            Assert.Equal("ERROR", summary.Status);
            Assert.Equal(["ollama", "opossum-gateway", "opossum-silo"], summary.Services);
            Assert.Contains(traceId, (await redis.GetDatabase().ListRangeAsync(RedisTraceSummaryStore.RecentKey, 0, 0)).Select(v => v.ToString()));
        }
        finally
        {
            await gateway.StopAsync(CancellationToken.None);
            await silo.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task A_process_merges_the_traces_it_gathered_into_redis_with_one_script_call()
    {
        // A Redis of its own: the command statistics must count this store's calls only.
        await using var server = await RedisServer.StartAsync();
        using var redis = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString + ",allowAdmin=true");
        var store = new RedisTraceSummaryStore(redis, NullLogger<RedisTraceSummaryStore>.Instance);
        await store.StartAsync(CancellationToken.None);
        try
        {
            // Ten cached chats' worth of gateway spans: HTTP server, GraphQL operation, grain call.
            var t0 = DateTime.UtcNow;
            var traceIds = Enumerable.Range(0, 10).Select(_ => Guid.NewGuid().ToString("N")).ToList();
            foreach (var traceId in traceIds)
            {
                store.Record(new SpanRecord(traceId, "IConversationStarterGrain/Start", t0.AddMilliseconds(2), t0.AddMilliseconds(8), false, "opossum-gateway"));
                store.Record(new SpanRecord(traceId, "mutation Chat", t0.AddMilliseconds(1), t0.AddMilliseconds(9), false, "opossum-gateway"));
                store.Record(new SpanRecord(traceId, "POST /graphql", t0, t0.AddMilliseconds(10), false, "opossum-gateway"));
            }

            IReadOnlyList<TraceSummary> summaries = [];
            for (var i = 0; i < 100 && summaries.Count(s => traceIds.Contains(s.TraceId)) < traceIds.Count; i++)
            {
                await Task.Delay(20);
                summaries = await store.RecentAsync(10, CancellationToken.None);
            }

            Assert.Equal(traceIds.Order(), summaries.Select(s => s.TraceId).Order());
            Assert.All(summaries, s => Assert.Equal(("POST /graphql", 3, 10.0), (s.RootName, s.SpanCount, Math.Round(s.DurationMs, 1))));
            var stats = (await redis.GetServer(redis.GetEndPoints()[0]).InfoAsync("commandstats")).SelectMany(g => g)
                .Where(kv => kv.Key is "cmdstat_eval" or "cmdstat_evalsha")
                .Sum(kv => int.Parse(kv.Value.Split(',')[0]["calls=".Length..]));
            Assert.Equal(1, stats); // one script call for the ten traces, where there were ten (one per trace) and before that thirty (one per span)
            RepositoryDocs.AssertStates("docs/observability.md", $"gathers its ended spans for {RedisTraceSummaryStore.GatherFor.TotalMilliseconds:0} ms");
            RepositoryDocs.AssertStates("docs/observability.md", $"one script call per {RedisTraceSummaryStore.TracesPerCall} traces");
        }
        finally
        {
            await store.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Redis_keeps_the_summaries_of_the_listed_traces_only()
    {
        // A Redis of its own: every trace key in it is this store's.
        await using var server = await RedisServer.StartAsync();
        using var redis = await ConnectionMultiplexer.ConnectAsync(server.ConnectionString);
        var store = new RedisTraceSummaryStore(redis, NullLogger<RedisTraceSummaryStore>.Instance);
        await store.StartAsync(CancellationToken.None);
        try
        {
            // A busy cluster's traces: more than the list holds.
            var t0 = DateTime.UtcNow;
            var traceIds = Enumerable.Range(0, RedisTraceSummaryStore.Capacity + 300).Select(_ => Guid.NewGuid().ToString("N")).ToList();
            for (var i = 0; i < traceIds.Count; i++)
                store.Record(new SpanRecord(traceIds[i], "POST /graphql", t0.AddMilliseconds(i), t0.AddMilliseconds(i + 5), false, "opossum-gateway"));

            var db = redis.GetDatabase();
            for (var i = 0; i < 200 && (string?)await db.ListGetByIndexAsync(RedisTraceSummaryStore.RecentKey, 0) != traceIds[^1]; i++)
                await Task.Delay(20); // merged in the order recorded: the last one listed means all were

            var listed = (await db.ListRangeAsync(RedisTraceSummaryStore.RecentKey)).Select(v => v.ToString()).ToList();
            Assert.Equal(traceIds.TakeLast(RedisTraceSummaryStore.Capacity).Reverse(), listed);
            var kept = redis.GetServer(redis.GetEndPoints()[0]).Keys(pattern: "traces:trace:*").Select(k => k.ToString()).Order().ToList();
            Assert.Equal(listed.Select(RedisTraceSummaryStore.TraceKey).Order(), kept);
            var recent = await store.RecentAsync(RedisTraceSummaryStore.Capacity, CancellationToken.None);
            Assert.Equal(listed.Order(), recent.Select(s => s.TraceId).Order());
            foreach (var doc in new[] { "docs/observability.md", "docs/operations.md" })
                RepositoryDocs.AssertStates(doc, $"{RepositoryDocs.Number(RedisTraceSummaryStore.Capacity)} most recent traces");
        }
        finally
        {
            await store.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task Cache_hits_and_misses_are_counted_in_redis()
    {
        using var redis = await ConnectionMultiplexer.ConnectAsync(fixture.Redis.ConnectionString);
        var db = redis.GetDatabase();
        // Earlier tests' counts would reach Redis up to a flush period late: each silo sends them now, and a round trip
        // on its own connection (which applies commands in order) returns once Redis has counted them.
        foreach (var silo in fixture.Cluster.Silos)
        {
            await silo.SiloHost.Services.GetRequiredService<CacheCounters>().FlushAsync();
            await silo.SiloHost.Services.GetRequiredService<IConnectionMultiplexer>().GetDatabase().PingAsync();
        }
        var hits = (long)await db.StringGetAsync(CacheCounters.RedisHits);
        var misses = (long)await db.StringGetAsync(CacheCounters.RedisMisses);
        var prompt = $"count me in redis {Guid.NewGuid():N}";

        await fixture.ChatAsync(prompt, noCache: false);
        await fixture.ChatAsync(prompt, noCache: false);
        await fixture.ChatAsync(prompt, noCache: false);

        // The silos' own flushes this time: the hits and the miss may be counted on different silos, a tick apart.
        for (var i = 0; i < 100 && ((long)await db.StringGetAsync(CacheCounters.RedisHits) < hits + 2 || (long)await db.StringGetAsync(CacheCounters.RedisMisses) < misses + 1); i++)
            await Task.Delay(20);
        Assert.Equal(hits + 2, (long)await db.StringGetAsync(CacheCounters.RedisHits));
        Assert.Equal(misses + 1, (long)await db.StringGetAsync(CacheCounters.RedisMisses));
    }
}
