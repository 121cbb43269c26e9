using System.Collections;
using System.Diagnostics;

namespace Opossum.Tests.Support;

/// <summary>
/// What the in-memory exporter receives. It adds each span on the thread that ended it, so adds and
/// reads share one lock here: a plain list, locked only by its readers, was read while a grain thread
/// grew it ("Destination array was not long enough" in a CI run).
/// </summary>
public sealed class ExportedSpans : ICollection<Activity>
{
    private readonly List<Activity> _spans = [];

    /// <summary>The spans exported so far, copied.</summary>
    public List<Activity> Snapshot()
    {
        lock (_spans) return [.. _spans];
    }

    public int Count
    {
        get { lock (_spans) return _spans.Count; }
    }

    public bool IsReadOnly => false;

    public void Add(Activity item)
    {
        lock (_spans) _spans.Add(item);
    }

    public void Clear()
    {
        lock (_spans) _spans.Clear();
    }

    public bool Contains(Activity item)
    {
        lock (_spans) return _spans.Contains(item);
    }

    public void CopyTo(Activity[] array, int arrayIndex)
    {
        lock (_spans) _spans.CopyTo(array, arrayIndex);
    }

    public bool Remove(Activity item)
    {
        lock (_spans) return _spans.Remove(item);
    }

    public IEnumerator<Activity> GetEnumerator() => Snapshot().GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
