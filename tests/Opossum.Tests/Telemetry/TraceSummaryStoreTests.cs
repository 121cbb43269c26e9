using Opossum.ServiceDefaults.Telemetry;
using Opossum.Tests.Support;

namespace Opossum.Tests.Telemetry;

/// <summary>The standalone store behind <c>/traces/recent</c>: what it lists once more spans ended than it keeps.</summary>
public sealed class TraceSummaryStoreTests
{
    private static readonly DateTime T0 = new(2026, 11, 24, 12, 0, 0, DateTimeKind.Utc);

    // A trace of a request: children end first, the root (earliest start) last, as spans end in a process.
    private static void RecordTrace(ITraceSummaryStore store, string traceId, int startMs, int spans, bool error = false)
    {
        var start = T0.AddMilliseconds(startMs);
        for (var i = spans - 1; i >= 1; i--)
            store.Record(new SpanRecord(traceId, $"child {i}", start.AddMilliseconds(i), start.AddMilliseconds(5), false, "opossum-search", i == 1 ? "ollama" : null));
        store.Record(new SpanRecord(traceId, "POST /graphql", start, start.AddMilliseconds(10), error, "opossum-search"));
    }

    [Fact]
    public async Task A_trace_is_summarised_from_its_spans()
    {
        var store = new InMemoryTraceSummaryStore(capacity: 64);
        RecordTrace(store, "a", startMs: 0, spans: 4, error: true);

        var trace = Assert.Single(await store.RecentAsync(10, CancellationToken.None));

        Assert.Equal(("a", "POST /graphql", T0, 10.0, 4, "ERROR"), (trace.TraceId, trace.RootName, trace.StartTime, trace.DurationMs, trace.SpanCount, trace.Status));
        Assert.Equal(["ollama", "opossum-search"], trace.Services);
    }

    [Fact]
    public async Task Once_the_ring_wraps_only_whole_traces_are_listed_newest_first()
    {
        var store = new InMemoryTraceSummaryStore(capacity: 10);
        // Four traces of three spans: twelve spans, so the first trace's first two spans are gone.
        for (var t = 0; t < 4; t++)
            RecordTrace(store, $"t{t}", startMs: t * 20, spans: 3);

        var recent = await store.RecentAsync(10, CancellationToken.None);

        Assert.Equal(["t3", "t2", "t1"], recent.Select(s => s.TraceId));
        Assert.All(recent, s => Assert.Equal(3, s.SpanCount));
        Assert.Equal(["t3", "t2"], (await store.RecentAsync(2, CancellationToken.None)).Select(s => s.TraceId));
    }

    [Fact]
    public async Task Spans_recorded_from_many_threads_are_all_counted()
    {
        // 8 writers x 100 traces x 5 spans = 4 000 spans: under the capacity, so nothing is evicted and every span must be
        // found. (Wrapping is the single-threaded test's subject: with writers racing, synthetic start times are not in
        // the order spans are recorded, so which traces count as whole after a wrap depends on the scheduler.)
        const int writers = 8, tracesPerWriter = 100, spansPerTrace = 5;
        var store = new InMemoryTraceSummaryStore();
        Assert.True(writers * tracesPerWriter * spansPerTrace <= InMemoryTraceSummaryStore.Capacity);
        foreach (var doc in new[] { "docs/observability.md", "docs/operations.md" })
            RepositoryDocs.AssertStates(doc, $"last {RepositoryDocs.Number(InMemoryTraceSummaryStore.Capacity)} ended spans");
        using var go = new Barrier(writers);
        await Task.WhenAll(Enumerable.Range(0, writers).Select(w => Task.Factory.StartNew(() =>
        {
            go.SignalAndWait();
            for (var t = 0; t < tracesPerWriter; t++)
                RecordTrace(store, $"w{w}-{t}", startMs: t, spans: spansPerTrace);
        }, TaskCreationOptions.LongRunning)));

        var recent = await store.RecentAsync(int.MaxValue, CancellationToken.None);

        Assert.Equal(writers * tracesPerWriter, recent.Count);
        Assert.All(recent, s => Assert.Equal(spansPerTrace, s.SpanCount));
    }
}
