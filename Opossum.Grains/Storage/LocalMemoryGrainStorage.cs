using System.Collections.Concurrent;
using Orleans.Serialization;
using Orleans.Storage;

namespace Opossum.Grains.Storage;

/// <summary>How long entries of one local storage live and how many it keeps.</summary>
public sealed record LocalStorageLimits(TimeSpan? IdleExpiry, int? MaxEntries);

/// <summary>
/// Grain storage for standalone mode (one silo): serialized state in this process's memory, each
/// entry expiring after it has not been written for <see cref="LocalStorageLimits.IdleExpiry"/>,
/// and at most <see cref="LocalStorageLimits.MaxEntries"/> entries (the longest unwritten go
/// first). A write is a dictionary update, not a grain call, and memory stays bounded however many
/// one-shot conversations clients start. Not for clusters: other silos cannot see it.
/// </summary>
public sealed class LocalMemoryGrainStorage : IGrainStorage, IDisposable
{
    private readonly ConcurrentDictionary<(string, GrainId), Entry> _entries = new();
    private readonly ConcurrentQueue<((string, GrainId) Key, long Version)> _writeOrder = new();
    private readonly Serializer _serializer;
    private readonly LocalStorageLimits _limits;
    private readonly TimeProvider _time;
    private readonly Timer? _sweeper;
    private long _version;
    private int _count; // ConcurrentDictionary.Count takes every lock: too dear on each write
    private int _queued;

    public LocalMemoryGrainStorage(Serializer serializer, LocalStorageLimits limits, TimeProvider time)
    {
        _serializer = serializer;
        _limits = limits;
        _time = time;
        if (limits.IdleExpiry is { } expiry)
        {
            var period = expiry < TimeSpan.FromMinutes(1) ? expiry : TimeSpan.FromMinutes(1);
            _sweeper = new Timer(_ => RemoveExpired(), null, period, period);
        }
    }

    public int Count => Volatile.Read(ref _count);

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (_entries.TryGetValue((stateName, grainId), out var entry) && !IsExpired(entry))
        {
            grainState.State = _serializer.Deserialize<T>(entry.Data);
            grainState.ETag = entry.Version.ToString();
            grainState.RecordExists = true;
        }
        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = (stateName, grainId);
        var version = Interlocked.Increment(ref _version);
        var entry = new Entry(_serializer.SerializeToArray(grainState.State), version, _time.GetUtcNow());
        if (_entries.TryGetValue(key, out var current))
        {
            if (grainState.ETag is not null && current.Version.ToString() != grainState.ETag || !_entries.TryUpdate(key, entry, current))
                throw new InconsistentStateException($"ETag mismatch for {grainId}", current.Version.ToString(), grainState.ETag ?? "");
        }
        else if (_entries.TryAdd(key, entry))
            Interlocked.Increment(ref _count);
        else
            throw new InconsistentStateException($"Concurrent first write for {grainId}", "", grainState.ETag ?? "");
        grainState.ETag = version.ToString();
        grainState.RecordExists = true;
        if (_limits.MaxEntries is { } max)
        {
            _writeOrder.Enqueue((key, version));
            Interlocked.Increment(ref _queued);
            EvictOver(max);
        }
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        if (_entries.TryRemove((stateName, grainId), out _))
            Interlocked.Decrement(ref _count);
        grainState.ETag = null;
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }

    private bool IsExpired(Entry entry) => _limits.IdleExpiry is { } expiry && _time.GetUtcNow() - entry.WrittenAt > expiry;

    private void EvictOver(int max)
    {
        // The queue holds every write; an item whose entry was rewritten since is stale and just dropped.
        while (Count > max && _writeOrder.TryDequeue(out var oldest))
        {
            Interlocked.Decrement(ref _queued);
            if (_entries.TryGetValue(oldest.Key, out var entry) && entry.Version == oldest.Version &&
                _entries.TryRemove(KeyValuePair.Create(oldest.Key, entry)))
                Interlocked.Decrement(ref _count);
        }
        // Rewrites leave stale items behind live ones; rebuild the order now and then so it stays bounded.
        if (Volatile.Read(ref _queued) > max * 2 + 1024)
        {
            lock (_writeOrder)
            {
                if (Volatile.Read(ref _queued) <= max * 2 + 1024) return;
                var live = _entries.Select(e => (e.Key, e.Value.Version)).OrderBy(e => e.Version).ToList();
                _writeOrder.Clear();
                foreach (var item in live) _writeOrder.Enqueue(item);
                Volatile.Write(ref _queued, live.Count);
            }
        }
    }

    private void RemoveExpired()
    {
        foreach (var (key, entry) in _entries)
        {
            if (IsExpired(entry) && _entries.TryRemove(KeyValuePair.Create(key, entry)))
                Interlocked.Decrement(ref _count);
        }
    }

    public void Dispose() => _sweeper?.Dispose();

    private sealed record Entry(byte[] Data, long Version, DateTimeOffset WrittenAt);
}
