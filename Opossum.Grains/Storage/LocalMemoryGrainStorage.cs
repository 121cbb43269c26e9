using System.Runtime.InteropServices;
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
/// <remarks>
/// One lock guards the entries and their write order: it is held for a dictionary and a queue
/// operation (serializing happens outside it), which costs less than the interlocked counters a
/// concurrent dictionary needs to stay bounded.
/// </remarks>
public sealed class LocalMemoryGrainStorage : IGrainStorage, IDisposable
{
    private readonly Lock _lock = new();
    private readonly Dictionary<(string, GrainId), Entry> _entries = new();
    // Every write in order; an item whose entry was rewritten or removed since is stale and skipped.
    private readonly Queue<((string, GrainId) Key, long Version)> _writeOrder = new();
    private readonly Serializer _serializer;
    private readonly LocalStorageLimits _limits;
    private readonly TimeProvider _time;
    private readonly Timer? _sweeper;
    private long _version;

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

    public int Count
    {
        get { lock (_lock) return _entries.Count; }
    }

    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        Entry entry;
        lock (_lock)
        {
            if (!_entries.TryGetValue((stateName, grainId), out entry) || IsExpired(entry, _time.GetUtcNow()))
                return Task.CompletedTask;
        }
        grainState.State = _serializer.Deserialize<T>(entry.Data);
        grainState.ETag = entry.Version.ToString();
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        var key = (stateName, grainId);
        var data = _serializer.SerializeToArray(grainState.State);
        var now = _time.GetUtcNow();
        long version;
        lock (_lock)
        {
            // One lookup of a key in a large map is a cache miss or two; the write makes one, not two.
            // An entry evicted or expired since it was read is simply written again.
            ref var entry = ref CollectionsMarshal.GetValueRefOrAddDefault(_entries, key, out var exists);
            if (exists && grainState.ETag is not null && entry.Version.ToString() != grainState.ETag)
                throw new InconsistentStateException($"ETag mismatch for {grainId}", entry.Version.ToString(), grainState.ETag);

            version = ++_version;
            entry = new Entry(data, version, now);
            if (_limits.MaxEntries is { } max)
            {
                _writeOrder.Enqueue((key, version));
                EvictOver(max);
            }
        }
        grainState.ETag = version.ToString();
        grainState.RecordExists = true;
        return Task.CompletedTask;
    }

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState)
    {
        lock (_lock)
            _entries.Remove((stateName, grainId));
        grainState.ETag = null;
        grainState.RecordExists = false;
        return Task.CompletedTask;
    }

    private bool IsExpired(Entry entry, DateTimeOffset now) => _limits.IdleExpiry is { } expiry && now - entry.WrittenAt > expiry;

    // Under the lock.
    private void EvictOver(int max)
    {
        while (_entries.Count > max && _writeOrder.TryDequeue(out var oldest))
        {
            // Usually the entry is the one queued: removed in one lookup; one rewritten since goes back.
            if (_entries.Remove(oldest.Key, out var entry) && entry.Version != oldest.Version)
                _entries.Add(oldest.Key, entry);
        }
        // Rewrites leave stale items behind live ones; rebuild the order now and then so it stays bounded.
        if (_writeOrder.Count > max * 2 + 1024)
        {
            var live = _entries.Select(e => (e.Key, e.Value.Version)).OrderBy(e => e.Version).ToList();
            _writeOrder.Clear();
            foreach (var item in live) _writeOrder.Enqueue(item);
        }
    }

    private void RemoveExpired()
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            foreach (var (key, entry) in _entries)
            {
                if (IsExpired(entry, now))
                    _entries.Remove(key); // allowed while enumerating a Dictionary
            }
        }
    }

    public void Dispose() => _sweeper?.Dispose();

    private readonly record struct Entry(byte[] Data, long Version, DateTimeOffset WrittenAt);
}
