using System.Collections.Concurrent;
using System.Diagnostics;
using OpenTelemetry;

namespace Opossum.ServiceDefaults.Telemetry;

/// <summary>A recent trace as <c>/traces/recent</c> and <c>recentTraces</c> show it.</summary>
public sealed record TraceSummary(string TraceId, string RootName, DateTime StartTime, double DurationMs, int SpanCount, string Status, IReadOnlyList<string> Services);

/// <summary>One ended span, as much of it as a summary needs.</summary>
public readonly record struct SpanRecord(string TraceId, string Name, DateTime Start, DateTime End, bool Error, IReadOnlyList<string> Services);

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
        List<string> services = [serviceName];
        // Backends the span talked to count as services of the trace too.
        if (span.GetTagItem("gen_ai.provider.name") is string provider) services.Add(provider);
        store.Record(new SpanRecord(span.TraceId.ToHexString(), span.DisplayName, span.StartTimeUtc, span.StartTimeUtc + span.Duration,
            span.Status == ActivityStatusCode.Error, services));
    }
}

/// <summary>The last <see cref="Capacity"/> traces of this process, in memory.</summary>
public sealed class InMemoryTraceSummaryStore : ITraceSummaryStore
{
    public const int Capacity = 1000;

    private readonly ConcurrentDictionary<string, Aggregate> _traces = new();
    private readonly ConcurrentQueue<string> _order = new();

    public void Record(SpanRecord span)
    {
        var aggregate = _traces.GetOrAdd(span.TraceId, id =>
        {
            _order.Enqueue(id);
            return new Aggregate(id);
        });
        aggregate.Add(span);
        while (_order.Count > Capacity && _order.TryDequeue(out var oldest))
            _traces.TryRemove(oldest, out _);
    }

    public Task<IReadOnlyList<TraceSummary>> RecentAsync(int limit, CancellationToken cancellationToken) =>
        Task.FromResult<IReadOnlyList<TraceSummary>>(_traces.Values
            .Select(a => a.Summary())
            .OrderByDescending(s => s.StartTime)
            .Take(limit)
            .ToList());

    private sealed class Aggregate(string traceId)
    {
        private readonly Lock _lock = new();
        private readonly SortedSet<string> _services = new(StringComparer.Ordinal);
        private string _root = "";
        private DateTime _start = DateTime.MaxValue;
        private DateTime _end = DateTime.MinValue;
        private int _count;
        private bool _error;

        public void Add(SpanRecord span)
        {
            lock (_lock)
            {
                if (span.Start < _start)
                {
                    _start = span.Start;
                    _root = span.Name;
                }
                if (span.End > _end) _end = span.End;
                _count++;
                _error |= span.Error;
                _services.UnionWith(span.Services);
            }
        }

        public TraceSummary Summary()
        {
            lock (_lock)
                return new TraceSummary(traceId, _root, _start, (_end - _start).TotalMilliseconds, _count, _error ? "ERROR" : "OK", _services.ToList());
        }
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
/// Grain calls made outside any trace (health probes, start-up, timers' reports) would each become a
/// root trace of their own; they are not recorded, so exporters see grain calls only inside requests.
/// </summary>
public sealed class UntracedGrainCallProcessor : BaseProcessor<Activity>
{
    private const string OrleansApplication = "Microsoft.Orleans.Application";

    public override void OnStart(Activity activity)
    {
        if (activity.Source.Name == OrleansApplication && activity.ParentSpanId == default && activity.Parent is null)
            activity.ActivityTraceFlags &= ~ActivityTraceFlags.Recorded;
    }
}
