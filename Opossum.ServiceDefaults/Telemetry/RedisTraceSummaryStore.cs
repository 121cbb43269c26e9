using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Opossum.ServiceDefaults.Telemetry;

/// <summary>
/// Trace summaries shared by every process of a cluster: each process merges its spans into a Redis
/// hash per trace (earliest span = root, latest end, count, status, services) and the list
/// <c>traces:recent</c> holds trace ids newest first, at most <see cref="Capacity"/>: the summary of a trace that
/// falls off the list is deleted, so Redis keeps as many summaries as the list names, not a day's worth.
/// Spans are written off the request path, gathered for <see cref="GatherFor"/> so that one script call
/// merges everything this process saw of a trace (a cached chat's spans end within milliseconds of each
/// other); a Redis outage loses summaries, never requests.
/// </summary>
public sealed class RedisTraceSummaryStore(IConnectionMultiplexer redis, ILogger<RedisTraceSummaryStore> logger) : BackgroundService, ITraceSummaryStore
{
    public const string RecentKey = "traces:recent";
    public const int Capacity = 1000;
    private static readonly TimeSpan KeepFor = TimeSpan.FromDays(1);

    /// <summary>How long spans are gathered before they are merged into Redis.</summary>
    public static readonly TimeSpan GatherFor = TimeSpan.FromMilliseconds(100);

    /// <summary>Most traces merged in one round.</summary>
    private const int TracesPerRound = 1000;

    // Merges what one process saw of a trace; the first merge a cluster sees of a trace puts the trace on the list,
    // and a trace that falls off the list is deleted with it: Redis holds the summaries of the listed traces only,
    // however many traces a busy cluster makes (a summary nobody can list again is not kept for its TTL).
    // The keys of the traces that fall off are made in the script, so it needs all its keys on one Redis node.
    private static readonly LuaScript Merge = LuaScript.Prepare("""
        local key = @key
        if redis.call('HSETNX', key, 'traceId', @traceId) == 1 then
          redis.call('LPUSH', @recent, @traceId)
          while redis.call('LLEN', @recent) > tonumber(@capacity) do
            local gone = redis.call('RPOP', @recent)
            redis.call('DEL', @prefix .. gone, @prefix .. gone .. @servicesSuffix)
          end
        end
        local start = tonumber(redis.call('HGET', key, 'start'))
        if not start or tonumber(@start) < start then
          redis.call('HSET', key, 'start', @start, 'root', @name)
        end
        local finish = tonumber(redis.call('HGET', key, 'end'))
        if not finish or tonumber(@finish) > finish then
          redis.call('HSET', key, 'end', @finish)
        end
        redis.call('HINCRBY', key, 'count', tonumber(@count))
        if @error == '1' then redis.call('HSET', key, 'status', 'ERROR') end
        for service in string.gmatch(@services, '[^,]+') do redis.call('SADD', @servicesKey, service) end
        redis.call('PEXPIRE', key, tonumber(@ttl))
        redis.call('PEXPIRE', @servicesKey, tonumber(@ttl))
        return 1
        """);

    private readonly Channel<SpanRecord> _pending = Channel.CreateBounded<SpanRecord>(
        new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    public void Record(SpanRecord span) => _pending.Writer.TryWrite(span);

    public async Task<IReadOnlyList<TraceSummary>> RecentAsync(int limit, CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        var ids = await db.ListRangeAsync(RecentKey, 0, limit - 1);
        var traces = await Task.WhenAll(ids.Select(async id =>
            (Hash: await db.HashGetAllAsync(TraceKey(id!)), Services: await db.SetMembersAsync(ServicesKey(id!)))));
        return traces.Select(t => ToSummary(t.Hash, t.Services)).OfType<TraceSummary>().OrderByDescending(s => s.StartTime).ToList();
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var db = redis.GetDatabase();
        try
        {
            var behind = false;
            while (await _pending.Reader.WaitToReadAsync(stoppingToken))
            {
                if (!behind)
                    await Task.Delay(GatherFor, stoppingToken);
                var traces = new Dictionary<string, TraceAggregate>();
                while (traces.Count < TracesPerRound && _pending.Reader.TryRead(out var span))
                {
                    if (!traces.TryGetValue(span.TraceId, out var trace))
                        traces[span.TraceId] = trace = new TraceAggregate(span.TraceId);
                    trace.Add(span);
                }
                behind = traces.Count == TracesPerRound; // more is waiting: no pause before the next round
                var merges = traces.Values.Select(trace => db.ScriptEvaluateAsync(Merge, Parameters(trace))).ToList();
                try
                {
                    await Task.WhenAll(merges);
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException)
                {
                    logger.LogWarning("Could not store the summaries of {Count} traces in Redis: {Reason}", merges.Count, ex.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static object Parameters(TraceAggregate trace) => new
    {
        key = (RedisKey)TraceKey(trace.TraceId),
        servicesKey = (RedisKey)ServicesKey(trace.TraceId),
        recent = (RedisKey)RecentKey,
        prefix = TracePrefix,
        servicesSuffix = ServicesSuffix,
        traceId = trace.TraceId,
        capacity = Capacity,
        start = ToMicros(trace.Start),
        finish = ToMicros(trace.End),
        name = trace.Root,
        count = trace.SpanCount,
        error = trace.Error ? "1" : "0",
        services = string.Join(',', trace.Services),
        ttl = (long)KeepFor.TotalMilliseconds,
    };

    private const string TracePrefix = "traces:trace:", ServicesSuffix = ":services";

    public static string TraceKey(string traceId) => TracePrefix + traceId;

    public static string ServicesKey(string traceId) => TracePrefix + traceId + ServicesSuffix;

    private static long ToMicros(DateTime time) => (time.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    private static TraceSummary? ToSummary(HashEntry[] entries, RedisValue[] serviceNames)
    {
        var map = entries.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString());
        if (!map.TryGetValue("traceId", out var id) || !map.TryGetValue("start", out var start) || !map.TryGetValue("end", out var end))
            return null;
        var startTime = DateTime.UnixEpoch.AddTicks(long.Parse(start, CultureInfo.InvariantCulture) * 10);
        var endTime = DateTime.UnixEpoch.AddTicks(long.Parse(end, CultureInfo.InvariantCulture) * 10);
        var services = serviceNames.Select(s => s.ToString()).Order(StringComparer.Ordinal).ToList();
        return new TraceSummary(id, map.GetValueOrDefault("root") ?? "", DateTime.SpecifyKind(startTime, DateTimeKind.Utc),
            (endTime - startTime).TotalMilliseconds, int.Parse(map.GetValueOrDefault("count") ?? "0", CultureInfo.InvariantCulture),
            map.GetValueOrDefault("status") ?? "OK", services);
    }
}
