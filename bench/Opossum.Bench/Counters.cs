using System.Globalization;
using System.Text.RegularExpressions;
using Opossum.Testing.Processes;

namespace Opossum.Bench;

/// <summary>The gateway's own runtime counters, read from its /metrics: what one request costs it.</summary>
public sealed record Counters(double CpuSeconds, double AllocatedBytes, double Gen0, double Gen1, double Gen2, double GcPauseSeconds, double JitSeconds)
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
            Sum("dotnet_gc_collections_total", "gen2"),
            Sum("dotnet_gc_pause_time_seconds_total"),
            Sum("dotnet_jit_compilation_time_seconds_total"));
    }

    public static readonly Counters Zero = new(0, 0, 0, 0, 0, 0, 0);

    /// <summary>What changed between <paramref name="before"/> and <paramref name="after"/>, added to this (start from <see cref="Zero"/>).</summary>
    public Counters Plus(Counters before, Counters after) => new(
        CpuSeconds + after.CpuSeconds - before.CpuSeconds,
        AllocatedBytes + after.AllocatedBytes - before.AllocatedBytes,
        Gen0 + after.Gen0 - before.Gen0,
        Gen1 + after.Gen1 - before.Gen1,
        Gen2 + after.Gen2 - before.Gen2,
        GcPauseSeconds + after.GcPauseSeconds - before.GcPauseSeconds,
        JitSeconds + after.JitSeconds - before.JitSeconds);

    /// <summary>These counters, taken as what changed over <paramref name="requests"/> requests, per request.</summary>
    public object PerRequest(double requests) => new
    {
        requests,
        cpuMicrosecondsPerRequest = CpuSeconds * 1e6 / requests,
        allocatedKiBPerRequest = AllocatedBytes / 1024 / requests,
        gen0 = Gen0,
        gen1 = Gen1,
        gen2 = Gen2,
        gcPauseMilliseconds = GcPauseSeconds * 1000,
        // Time the JIT still spent compiling during the scenario: near zero once the deployment is warm.
        jitMilliseconds = JitSeconds * 1000,
    };
}

/// <summary>
/// CPU per request of the gateway process and of this harness (load generator, backend, OTLP sink),
/// from the processes' own CPU time over the measured part of a run (after the warm-up): the machine's
/// cores are shared, so a scenario's throughput depends on both.
/// </summary>
public sealed record CpuPerRequest(double GatewayMicroseconds, double HarnessMicroseconds)
{
    public static async Task<(Measurement, CpuPerRequest)> MeasureAsync(ChildProcess gateway, Func<IProgress<bool>, Task<Measurement>> run)
    {
        var harness = System.Diagnostics.Process.GetCurrentProcess();
        TimeSpan gatewayCpu = default, harnessCpu = default;
        // Synchronous reports: the readings happen exactly at the window's edges.
        var window = new Window(measuring =>
        {
            harness.Refresh();
            var sign = measuring ? -1 : 1;
            gatewayCpu += sign * gateway.CpuTime();
            harnessCpu += sign * harness.TotalProcessorTime;
        });
        var measurement = await run(window);
        var requests = Math.Max(1, measurement.Measured);
        return (measurement, new CpuPerRequest(gatewayCpu.TotalMicroseconds / requests, harnessCpu.TotalMicroseconds / requests));
    }

    private sealed class Window(Action<bool> report) : IProgress<bool>
    {
        public void Report(bool value) => report(value);
    }

    /// <summary>Several windows' figures as one, each weighted by the requests it measured.</summary>
    public static CpuPerRequest Combine(IReadOnlyList<(Measurement Measurement, CpuPerRequest Cpu)> windows)
    {
        var requests = Math.Max(1, windows.Sum(w => w.Measurement.Measured));
        return new CpuPerRequest(
            windows.Sum(w => w.Cpu.GatewayMicroseconds * w.Measurement.Measured) / requests,
            windows.Sum(w => w.Cpu.HarnessMicroseconds * w.Measurement.Measured) / requests);
    }

    public override string ToString() => $"CPU per request: gateway {GatewayMicroseconds:0} µs, harness {HarnessMicroseconds:0} µs";
}
