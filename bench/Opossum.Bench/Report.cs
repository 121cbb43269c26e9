using System.Text;
using System.Text.Json;
using Opossum.Testing.Processes;

namespace Opossum.Bench;

public sealed record ScenarioRow(string Scenario, double Throughput, double P50, double P90, double P99, long Errors,
    double ThroughputVsCeiling, double P99VsCeiling, string? Note);

/// <summary>The figures of a run: printed as a table at the end and written to <c>bench/results</c>.</summary>
public sealed class Report
{
    private readonly List<Measurement> _results = [];
    private readonly Dictionary<string, IReadOnlyList<Measurement>> _rounds = [];
    private readonly Dictionary<string, CpuPerRequest> _cpuPerRequest = [];
    private readonly Dictionary<string, object?> _report;

    public Report(BenchOptions options) => _report = new()
    {
        ["cpuPerRequest"] = _cpuPerRequest,
        ["spansExportedPerRequest"] = SpansPerRequest,
        ["machine"] = new { cores = Environment.ProcessorCount, os = System.Runtime.InteropServices.RuntimeInformation.OSDescription, dotnet = Environment.Version.ToString() },
        ["options"] = options,
        ["startedAt"] = DateTimeOffset.UtcNow,
        ["gatewayCounters"] = GatewayCounters,
        ["mode"] = Deployment.ModeName(options.Cluster),
    };

    /// <summary>Spans exported per request, by traced scenario.</summary>
    public Dictionary<string, double> SpansPerRequest { get; } = [];

    /// <summary>The gateway's runtime counters per request, by scenario.</summary>
    public Dictionary<string, object> GatewayCounters { get; } = [];

    /// <summary>The note of a scenario that says more than its figures, by scenario name.</summary>
    public Dictionary<string, string> Notes { get; } = [];

    /// <summary>A scenario's own figures (e.g. <c>coalesce</c>, <c>memory</c>), written as they are.</summary>
    public object? this[string key] { set => _report[key] = value; }

    /// <summary>A scenario measured once, in one window.</summary>
    public void Add(Measurement measurement) => _results.Add(measurement);

    /// <summary>A scenario measured in interleaved rounds.</summary>
    public void Add(Interleaved measured)
    {
        _results.Add(measured.Combined);
        _rounds[measured.Name] = measured.PerRound;
        if (measured.Cpu is not null) _cpuPerRequest[measured.Name] = measured.Cpu;
    }

    /// <summary>Prints the table, writes the report and returns the exit code: 1 when any scenario had errors.</summary>
    public async Task<int> WriteAsync(BenchOptions options)
    {
        var table = Build(options.BackendLatencyMs);
        _report["rounds"] = _rounds.ToDictionary(r => r.Key, r => r.Value.Select(w => new { w.Throughput, w.P50, w.P90, w.P99, w.Errors }));
        Console.WriteLine();
        Console.WriteLine(Render(table));
        _report["scenarios"] = table;
        // Only a full run of the shipped configuration replaces the figures the docs quote.
        var file = options.Smoke ? "smoke.json"
            : options.SampleRatio is not null ? "sampled.json"
            : options.Only.Count < BenchOptions.Scenarios.Length ? "partial.json"
            : options.Cluster ? "latest-cluster.json" : "latest.json";
        var path = Path.Combine(Repository.Root, "bench", "results", file);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        await File.WriteAllTextAsync(path, JsonSerializer.Serialize(_report, new JsonSerializerOptions { WriteIndented = true, NumberHandling = System.Text.Json.Serialization.JsonNumberHandling.AllowNamedFloatingPointLiterals }));
        Console.WriteLine($"written: {path}");
        return _results.Any(r => r.Errors > 0) ? 1 : 0;
    }

    private List<ScenarioRow> Build(double backendMs)
    {
        // Each round's figure, from windows seconds apart: how far the rounds spread.
        string PerRound(string scenario, string other, Func<Measurement, Measurement, double> figure, string format) =>
            _rounds.TryGetValue(scenario, out var mine) && _rounds.TryGetValue(other, out var theirs) && mine.Count > 1
                ? $" (rounds: {string.Join(" · ", mine.Zip(theirs, figure).Select(f => f.ToString(format, System.Globalization.CultureInfo.InvariantCulture)))})"
                : "";
        string TracingRatio(Measurement on, Measurement off) =>
            $"tracing on/off throughput {on.Throughput / off.Throughput:0.00}" +
            PerRound(on.Scenario, off.Scenario, (mine, theirs) => mine.Throughput / theirs.Throughput, "0.00");
        // With --only some scenarios are missing: their ratios are NaN.
        var ceiling = _results.SingleOrDefault(r => r.Scenario == "ceiling");
        var hit = _results.SingleOrDefault(r => r.Scenario == "cache-hit");
        var alone = _results.SingleOrDefault(r => r.Scenario == "backend alone");
        var miss = _results.SingleOrDefault(r => r.Scenario == "miss-overhead");
        return _results.Select(r => new ScenarioRow(r.Scenario, r.Throughput, r.P50, r.P90, r.P99, r.Errors,
            r.Throughput / (ceiling?.Throughput ?? double.NaN), r.P99 / (ceiling?.P99 ?? double.NaN),
            r.Scenario switch
            {
                "miss-overhead" => $"overhead p50 {r.P50 - backendMs:0.00} ms, p99 {r.P99 - backendMs:0.00} ms" +
                    (alone is null ? "" : $" (vs the backend alone: p50 {r.P50 - alone.P50:0.00} ms, p99 {r.P99 - alone.P99:0.00} ms)") +
                    PerRound(r.Scenario, "backend alone", (miss, _) => miss.P50 - backendMs, "0.00"),
                "cache-hit" when PerRound(r.Scenario, "ceiling", (mine, theirs) => mine.Throughput / theirs.Throughput, "0.00") is { Length: > 0 } throughput =>
                    $"req/s vs ceiling{throughput}; p99 vs ceiling{PerRound(r.Scenario, "ceiling", (mine, theirs) => mine.P99 / theirs.P99, "0.00")}",
                "ceiling (tracing on)" when ceiling is not null => $"a bare endpoint's {TracingRatio(r, ceiling)}",
                "openai miss-overhead" => $"overhead p50 {r.P50 - backendMs:0.00} ms, p99 {r.P99 - backendMs:0.00} ms" +
                    (miss is null ? "" : $"; p50 minus the GraphQL door's {r.P50 - miss.P50:0.00} ms" +
                        PerRound(r.Scenario, "miss-overhead", (door, graphql) => door.P50 - graphql.P50, "0.00")),
                "openai cache-hit" when hit is not null => $"req/s vs the GraphQL door's cache-hit {r.Throughput / hit.Throughput:0.00}" +
                    PerRound(r.Scenario, "cache-hit", (door, graphql) => door.Throughput / graphql.Throughput, "0.00"),
                "backend alone" => $"the loopback backend called directly: {r.P50 - backendMs:0.00} ms over {backendMs:0} ms at p50",
                "cache-hit (tracing off)" when hit is not null => TracingRatio(hit, r),
                _ => Notes.GetValueOrDefault(r.Scenario) ?? r.FirstError,
            })).ToList();
    }

    private string Render(List<ScenarioRow> rows)
    {
        var text = new StringBuilder();
        text.AppendLine($"| scenario | req/s | p50 ms | p90 ms | p99 ms | errors | req/s vs ceiling | p99 vs ceiling | CPU/request gateway · harness | note |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---|---|");
        foreach (var r in rows)
        {
            var used = _cpuPerRequest.TryGetValue(r.Scenario, out var c) ? $"{c.GatewayMicroseconds:0} µs · {c.HarnessMicroseconds:0} µs" : "";
            text.AppendLine($"| {r.Scenario} | {r.Throughput:0} | {r.P50:0.00} | {r.P90:0.00} | {r.P99:0.00} | {r.Errors} | {r.ThroughputVsCeiling:0.00} | {r.P99VsCeiling:0.00} | {used} | {r.Note} |");
        }
        return text.ToString();
    }
}
