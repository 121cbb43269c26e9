using System.Globalization;
using System.Text.RegularExpressions;

namespace Opossum.Bench;

/// <summary>The gateway's own runtime counters, read from its /metrics: what one request costs it.</summary>
public sealed record Counters(double CpuSeconds, double AllocatedBytes, double Gen0, double Gen1, double Gen2)
{
    public static async Task<Counters> ReadAsync(HttpClient http, Uri gateway)
    {
        var text = await http.GetStringAsync(new Uri(gateway, "/metrics"));
        double Sum(string series, string? label = null) => Regex.Matches(text, "^" + Regex.Escape(series) + @"\{([^}]*)\} ([0-9.eE+-]+)$", RegexOptions.Multiline)
            .Where(m => label is null || m.Groups[1].Value.Contains(label))
            .Sum(m => double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
        return new Counters(
            Sum("dotnet_process_cpu_time_seconds_total"),
            Sum("dotnet_gc_heap_total_allocated_bytes_total"),
            Sum("dotnet_gc_collections_total", "gen0"),
            Sum("dotnet_gc_collections_total", "gen1"),
            Sum("dotnet_gc_collections_total", "gen2"));
    }

    /// <summary>Per-request figures between two readings.</summary>
    public static object PerRequest(Counters before, Counters after, double requests) => new
    {
        requests,
        cpuMicrosecondsPerRequest = (after.CpuSeconds - before.CpuSeconds) * 1e6 / requests,
        allocatedKiBPerRequest = (after.AllocatedBytes - before.AllocatedBytes) / 1024 / requests,
        gen0 = after.Gen0 - before.Gen0,
        gen1 = after.Gen1 - before.Gen1,
        gen2 = after.Gen2 - before.Gen2,
    };
}
