using System.Collections.Concurrent;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Opossum.Grains.Caching;

/// <summary>
/// This silo's copies of answers its cache grains gave out, each kept until the entry's own expiry,
/// so a repeated prompt is answered on the silo that receives it without a call to the key's cache
/// grain. Only finished answers are copied: misses still go to the one cache grain per key, where
/// identical misses coalesce. Bounded by <see cref="CacheOptions.LocalEntries"/> (0 turns it off);
/// when full, expired copies go first, then arbitrary ones.
/// </summary>
public sealed class SiloCache(IOptions<CacheOptions> options, [FromKeyedServices(ProviderNames.Clock)] TimeProvider time)
{
    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly Lock _trimming = new();
    private int _count; // ConcurrentDictionary.Count takes every lock

    public int Count => Volatile.Read(ref _count);

    /// <summary>The fresh answer kept for <paramref name="key"/>, or null.</summary>
    public Generation? Find(string key)
    {
        if (!_entries.TryGetValue(key, out var entry)) return null;
        if (entry.ExpiresAt > time.GetUtcNow()) return entry.Generation;
        Remove(key, entry);
        return null;
    }

    /// <summary>Keeps a copy of the answer a cache grain gave for <paramref name="key"/> until <paramref name="expiresAt"/>.</summary>
    public void Keep(string key, Generation generation, DateTimeOffset expiresAt)
    {
        var capacity = options.Value.LocalEntries;
        if (capacity <= 0 || expiresAt <= time.GetUtcNow()) return;
        var entry = new Entry(generation, expiresAt);
        if (_entries.TryGetValue(key, out var current))
        {
            _entries.TryUpdate(key, entry, current);
            return;
        }
        if (Count >= capacity) Trim(capacity);
        if (_entries.TryAdd(key, entry)) Interlocked.Increment(ref _count);
    }

    // Makes room for a tenth of the capacity: expired copies first, then whichever come first.
    private void Trim(int capacity)
    {
        lock (_trimming)
        {
            var target = capacity - Math.Max(1, capacity / 10);
            if (Count <= target) return;
            var now = time.GetUtcNow();
            foreach (var (key, entry) in _entries)
                if (entry.ExpiresAt <= now) Remove(key, entry);
            foreach (var (key, entry) in _entries)
            {
                if (Count <= target) break;
                Remove(key, entry);
            }
        }
    }

    private void Remove(string key, Entry entry)
    {
        if (_entries.TryRemove(KeyValuePair.Create(key, entry))) Interlocked.Decrement(ref _count);
    }

    private sealed record Entry(Generation Generation, DateTimeOffset ExpiresAt);
}
