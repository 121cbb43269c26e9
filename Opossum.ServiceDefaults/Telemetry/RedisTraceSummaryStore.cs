using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Opossum.ServiceDefaults.Telemetry;

/// <summary>
/// Trace summaries shared by every process of a cluster: each process merges its spans into a Redis
/// hash per trace (earliest span = root, latest end, count, status, a field per service) and the list
/// <c>traces:recent</c> holds trace ids newest first, at most <see cref="Capacity"/>: the summary of a trace that
/// falls off the list is deleted, so Redis keeps as many summaries as the list names, not a day's worth.
/// Spans are written off the request path, gathered for <see cref="GatherFor"/> so that one script call
/// merges everything this process saw of up to <see cref="TracesPerCall"/> traces (a cached chat's spans end
/// within milliseconds of each other); a Redis outage loses summaries, never requests.
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

    /// <summary>
    /// Traces merged by one script call: enough that Redis's fixed cost of a call, about as large as the merge
    /// itself, is shared among many traces; few enough that one call never holds Redis up for long.
    /// </summary>
    public const int TracesPerCall = 100;

    private const string TracePrefix = "traces:trace:", ServicePrefix = "service:";

    // Merges what one process saw of each of a batch of traces (ARGV: key prefix, service field prefix,
    // capacity, TTL, then seven values per trace). The first merge a cluster sees of a trace writes its hash
    // whole and puts it on the list; a trace that falls off the list is deleted with it, so Redis holds the
    // summaries of the listed traces only, however busy the cluster (a summary nobody can list again is not
    // kept for its TTL). The names of the traces' keys are made in the script: they must all be on one Redis node.
    private const string Merge = """
        local recent, prefix, servicePrefix = KEYS[1], ARGV[1], ARGV[2]
        local capacity, ttl = tonumber(ARGV[3]), tonumber(ARGV[4])
        for i = 5, #ARGV, 7 do
          local traceId, start, finish, root = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
          local count, failed, services = ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
          local key = prefix .. traceId
          local fields = {}
          if redis.call('HSETNX', key, 'traceId', traceId) == 1 then
            fields = {'start', start, 'root', root, 'end', finish, 'count', count}
            local listed = redis.call('LPUSH', recent, traceId)
            while listed > capacity do
              redis.call('DEL', prefix .. redis.call('RPOP', recent))
              listed = listed - 1
            end
          else
            local known = redis.call('HMGET', key, 'start', 'end')
            if not known[1] or tonumber(start) < tonumber(known[1]) then
              fields[#fields + 1] = 'start'; fields[#fields + 1] = start
              fields[#fields + 1] = 'root'; fields[#fields + 1] = root
            end
            if not known[2] or tonumber(finish) > tonumber(known[2]) then
              fields[#fields + 1] = 'end'; fields[#fields + 1] = finish
            end
            redis.call('HINCRBY', key, 'count', count)
          end
          if failed == '1' then fields[#fields + 1] = 'status'; fields[#fields + 1] = 'ERROR' end
          for service in string.gmatch(services, '[^,]+') do
            fields[#fields + 1] = servicePrefix .. service; fields[#fields + 1] = '1'
          end
          if #fields > 0 then redis.call('HSET', key, unpack(fields)) end
          redis.call('PEXPIRE', key, ttl)
        end
        return 1
        """;

    private readonly Channel<SpanRecord> _pending = Channel.CreateBounded<SpanRecord>(
        new BoundedChannelOptions(10_000) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true });

    public void Record(SpanRecord span) => _pending.Writer.TryWrite(span);

    public async Task<IReadOnlyList<TraceSummary>> RecentAsync(int limit, CancellationToken cancellationToken)
    {
        var db = redis.GetDatabase();
        var ids = await db.ListRangeAsync(RecentKey, 0, limit - 1);
        var traces = await Task.WhenAll(ids.Select(id => db.HashGetAllAsync(TraceKey(id!))));
        return traces.Select(ToSummary).OfType<TraceSummary>().OrderByDescending(s => s.StartTime).ToList();
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
                var merges = traces.Values.Chunk(TracesPerCall).Select(batch => db.ScriptEvaluateAsync(Merge, [RecentKey], Arguments(batch))).ToList();
                try
                {
                    await Task.WhenAll(merges);
                }
                // Summaries are best effort: nothing the Redis client throws (even an InvalidOperationException from its own read loop) may stop the process.
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    logger.LogWarning("Could not store the summaries of {Count} traces in Redis: {Reason}", traces.Count, ex.Message);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
        }
    }

    private static RedisValue[] Arguments(TraceAggregate[] batch)
    {
        var values = new RedisValue[4 + 7 * batch.Length];
        values[0] = TracePrefix;
        values[1] = ServicePrefix;
        values[2] = Capacity;
        values[3] = (long)KeepFor.TotalMilliseconds;
        var i = 4;
        foreach (var trace in batch)
        {
            values[i++] = trace.TraceId;
            values[i++] = ToMicros(trace.Start);
            values[i++] = ToMicros(trace.End);
            values[i++] = trace.Root;
            values[i++] = trace.SpanCount;
            values[i++] = trace.Error ? "1" : "0";
            values[i++] = string.Join(',', trace.Services);
        }
        return values;
    }

    public static string TraceKey(string traceId) => TracePrefix + traceId;

    private static long ToMicros(DateTime time) => (time.Ticks - DateTime.UnixEpoch.Ticks) / 10;

    private static TraceSummary? ToSummary(HashEntry[] entries)
    {
        var map = entries.ToDictionary(e => e.Name.ToString(), e => e.Value.ToString());
        var serviceNames = map.Keys.Where(name => name.StartsWith(ServicePrefix, StringComparison.Ordinal)).Select(name => name[ServicePrefix.Length..]);
        if (!map.TryGetValue("traceId", out var id) || !map.TryGetValue("start", out var start) || !map.TryGetValue("end", out var end))
            return null;
        var startTime = DateTime.UnixEpoch.AddTicks(long.Parse(start, CultureInfo.InvariantCulture) * 10);
        var endTime = DateTime.UnixEpoch.AddTicks(long.Parse(end, CultureInfo.InvariantCulture) * 10);
        var services = serviceNames.Order(StringComparer.Ordinal).ToList();
        return new TraceSummary(id, map.GetValueOrDefault("root") ?? "", DateTime.SpecifyKind(startTime, DateTimeKind.Utc),
            (endTime - startTime).TotalMilliseconds, int.Parse(map.GetValueOrDefault("count") ?? "0", CultureInfo.InvariantCulture),
            map.GetValueOrDefault("status") ?? "OK", services);
    }
}
