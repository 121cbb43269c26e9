using System.Diagnostics;

namespace Opossum.Tests.Support;

/// <summary>The spans of one trace as a gateway exported them, and how they hang together.</summary>
public static class TraceTrees
{
    /// <summary>The trace's spans once one that ends last (<paramref name="last"/>) has been exported.</summary>
    public static async Task<List<Activity>> SpansOfTraceAsync(this ExportedSpans exported, string traceId, Func<Activity, bool> last)
    {
        for (var i = 0; i < 100; i++)
        {
            var spans = exported.Snapshot().Where(s => s.TraceId.ToHexString() == traceId).ToList();
            if (spans.Any(last)) return spans;
            await Task.Delay(50);
        }
        throw new Xunit.Sdk.XunitException($"No complete trace {traceId} was exported.");
    }

    /// <summary>The span's parent, its parent's parent, up to the root; every one of them must have been exported.</summary>
    public static IEnumerable<Activity> AncestorsOf(Activity span, List<Activity> spans)
    {
        var byId = spans.ToDictionary(s => s.SpanId);
        for (var current = span; current.ParentSpanId != default;)
        {
            Assert.True(byId.TryGetValue(current.ParentSpanId, out var parent), $"parent of {current.DisplayName} was not exported");
            yield return parent;
            current = parent;
        }
    }

    /// <summary>The tree below <paramref name="span"/>, one line a span, for the test's output.</summary>
    public static void Print(Activity span, List<Activity> spans, Xunit.Abstractions.ITestOutputHelper output, int depth = 0, DateTime? rootStart = null)
    {
        var start = rootStart ?? span.StartTimeUtc;
        output.WriteLine($"{new string(' ', depth * 2)}{span.DisplayName} [{span.Source.Name}, {span.Kind}] " +
            $"+{(span.StartTimeUtc - start).TotalMilliseconds:0.0} ms, {span.Duration.TotalMilliseconds:0.0} ms");
        foreach (var child in spans.Where(s => s.ParentSpanId == span.SpanId).OrderBy(s => s.StartTimeUtc))
            Print(child, spans, output, depth + 1, start);
    }
}
