using System.Buffers;
using System.Diagnostics;
using OpenTelemetry;

namespace Opossum.ServiceDefaults.Telemetry;

/// <summary>A recent trace as <c>/traces/recent</c> and <c>recentTraces</c> show it.</summary>
public sealed record TraceSummary(string TraceId, string RootName, DateTime StartTime, double DurationMs, int SpanCount, string Status, IReadOnlyList<string> Services);

/// <summary>One ended span, as much of it as a summary needs: the process's service and, for backend calls, the backend.</summary>
public readonly record struct SpanRecord(string TraceId, string Name, DateTime Start, DateTime End, bool Error, string Service, string? Backend = null);

/// <summary>What one process has seen of a trace: its earliest span (the root), latest end, span count, any error, services. Not thread-safe.</summary>
internal sealed class TraceAggregate(string traceId)
{
    private readonly List<string> _services = new(2);

    public string TraceId => traceId;
    public string Root { get; private set; } = "";
    public DateTime Start { get; private set; } = DateTime.MaxValue;
    public DateTime End { get; private set; } = DateTime.MinValue;
    public int SpanCount { get; private set; }
    public bool Error { get; private set; }
    public IReadOnlyList<string> Services => _services;

    public void Add(SpanRecord span)
    {
        if (span.Start < Start)
        {
            Start = span.Start;
            Root = span.Name;
        }
        if (span.End > End) End = span.End;
        SpanCount++;
        Error |= span.Error;
        if (!_services.Contains(span.Service)) _services.Add(span.Service);
        if (span.Backend is not null && !_services.Contains(span.Backend)) _services.Add(span.Backend);
    }

    public TraceSummary Summary() =>
        new(traceId, Root, Start, (End - Start).TotalMilliseconds, SpanCount, Error ? "ERROR" : "OK", _services.Order(StringComparer.Ordinal).ToList());
}

/// <summary>Where the summaries of recent traces are kept: a ring in memory (standalone) or Redis (cluster, all processes).</summary>
public interface ITraceSummaryStore
{
    void Record(SpanRecord span);

    /// <summary>Newest first.</summary>
    Task<IReadOnlyList<TraceSummary>> RecentAsync(int limit, CancellationToken cancellationToken);
}

/// <summary>Feeds every ended span of this process into the trace summary store.</summary>
public sealed class TraceSummaryProcessor(ITraceSummaryStore store, string serviceName) : BaseProcessor<Activity>
{
    public override void OnEnd(Activity span)
    {
        if (!span.Recorded) return;
        // Backends the span talked to count as services of the trace too; only backend spans carry the tag.
        var backend = span.Kind == ActivityKind.Client ? span.GetTagItem("gen_ai.provider.name") as string : null;
        store.Record(new SpanRecord(span.TraceId.ToHexString(), span.DisplayName, span.StartTimeUtc, span.StartTimeUtc + span.Duration,
            span.Status == ActivityStatusCode.Error, serviceName, backend));
    }
}

/// <summary>
/// The traces among this process's last <see cref="Capacity"/> ended spans, in memory. Recording a
/// span copies it into a ring (a lock held for that copy alone); the spans are grouped into traces
/// when somebody asks, so the work falls on the rare query rather than on every span of every request.
/// </summary>
public sealed class InMemoryTraceSummaryStore(int capacity = InMemoryTraceSummaryStore.Capacity) : ITraceSummaryStore
{
    /// <summary>
    /// Spans kept: the traces of over a thousand cached chats, or a few hundred misses, far more than a query
    /// lists. Kept spans keep their trace ids and names alive, and every collection of the young generation
    /// promotes what the ring holds: a ring eight times larger made the gateway's GC pauses under load longer.
    /// </summary>
    public const int Capacity = 4096;

    private readonly SpanRecord[] _ring = new SpanRecord[capacity];
    private readonly Lock _lock = new();
    private long _recorded;

    public void Record(SpanRecord span)
    {
        lock (_lock)
            _ring[_recorded++ % _ring.Length] = span;
    }

    public Task<IReadOnlyList<TraceSummary>> RecentAsync(int limit, CancellationToken cancellationToken)
    {
        var spans = ArrayPool<SpanRecord>.Shared.Rent(_ring.Length);
        int count;
        bool wrapped;
        lock (_lock)
        {
            wrapped = _recorded > _ring.Length;
            count = (int)Math.Min(_recorded, _ring.Length);
            var oldest = wrapped ? (int)(_recorded % _ring.Length) : 0;
            Array.Copy(_ring, oldest, spans, 0, count - oldest);
            Array.Copy(_ring, 0, spans, count - oldest, oldest);
        }

        // Once the ring has wrapped, a trace that started before the oldest kept span ended may have lost spans: left out.
        var complete = wrapped ? spans[0].End : DateTime.MinValue;
        var traces = new Dictionary<string, TraceAggregate>(StringComparer.Ordinal);
        foreach (var span in spans.AsSpan(0, count))
        {
            if (!traces.TryGetValue(span.TraceId, out var trace))
                traces[span.TraceId] = trace = new TraceAggregate(span.TraceId);
            trace.Add(span);
        }
        ArrayPool<SpanRecord>.Shared.Return(spans, clearArray: true);
        return Task.FromResult<IReadOnlyList<TraceSummary>>(traces.Values
            .Where(t => t.Start > complete)
            .OrderByDescending(t => t.Start)
            .Take(limit)
            .Select(t => t.Summary())
            .ToList());
    }
}

/// <summary>The <c>limit</c> of a recent-traces query: default 10, at most 100.</summary>
public static class TraceQuery
{
    public const int DefaultLimit = 10;
    public const int MaxLimit = 100;

    /// <summary>Null when the limit is acceptable, else what is wrong with it.</summary>
    public static string? Problem(int limit) =>
        limit is < 1 or > MaxLimit ? $"limit must be between 1 and {MaxLimit}, not {limit}." : null;
}

/// <summary>
/// Grain calls that are not recorded. Those made outside any trace (health probes, start-up, timers' reports)
/// would each become a root trace of their own. And a grain method that streams (IAsyncEnumerable) is fetched
/// chunk by chunk, each chunk a MoveNext call: the stream's own span (<c>IModelGrain/Stream</c>) covers them all,
/// so a long answer is not hundreds of spans. What runs inside a chunk's call is not recorded either.
/// </summary>
public sealed class UntracedGrainCallProcessor : BaseProcessor<Activity>
{
    private const string StreamPiece = "IAsyncEnumerableGrainExtension/MoveNext";

    public override void OnStart(Activity activity)
    {
        if (activity.Source.Name != TelemetrySources.OrleansApplication) return;
        if (activity.ParentSpanId == default && activity.Parent is null || activity.OperationName.StartsWith(StreamPiece, StringComparison.Ordinal))
            activity.ActivityTraceFlags &= ~ActivityTraceFlags.Recorded;
    }
}
