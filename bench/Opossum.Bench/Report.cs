using System.Text;

namespace Opossum.Bench;

public sealed record ScenarioRow(string Scenario, double Throughput, double P50, double P90, double P99, long Errors,
    double ThroughputVsCeiling, double P99VsCeiling, string? Note);

public static class Report
{
    /// <param name="notes">The note of a scenario that says more than its figures, by scenario name.</param>
    public static List<ScenarioRow> Build(List<Measurement> results, IReadOnlyDictionary<string, IReadOnlyList<Measurement>> rounds, double backendMs,
        IReadOnlyDictionary<string, string> notes)
    {
        // Each round's figure, from windows seconds apart: how far the rounds spread.
        string PerRound(string scenario, string other, Func<Measurement, Measurement, double> figure, string format) =>
            rounds.TryGetValue(scenario, out var mine) && rounds.TryGetValue(other, out var theirs) && mine.Count > 1
                ? $" (rounds: {string.Join(" · ", mine.Zip(theirs, figure).Select(f => f.ToString(format, System.Globalization.CultureInfo.InvariantCulture)))})"
                : "";
        string TracingRatio(Measurement on, Measurement off) =>
            $"tracing on/off throughput {on.Throughput / off.Throughput:0.00}" +
            PerRound(on.Scenario, off.Scenario, (mine, theirs) => mine.Throughput / theirs.Throughput, "0.00");
        // With --only some scenarios are missing: their ratios are NaN.
        var ceiling = results.SingleOrDefault(r => r.Scenario == "ceiling");
        var hit = results.SingleOrDefault(r => r.Scenario == "cache-hit");
        var alone = results.SingleOrDefault(r => r.Scenario == "backend alone");
        return results.Select(r => new ScenarioRow(r.Scenario, r.Throughput, r.P50, r.P90, r.P99, r.Errors,
            r.Throughput / (ceiling?.Throughput ?? double.NaN), r.P99 / (ceiling?.P99 ?? double.NaN),
            r.Scenario switch
            {
                "miss-overhead" => $"overhead p50 {r.P50 - backendMs:0.00} ms, p99 {r.P99 - backendMs:0.00} ms" +
                    (alone is null ? "" : $" (vs the backend alone: p50 {r.P50 - alone.P50:0.00} ms, p99 {r.P99 - alone.P99:0.00} ms)") +
                    PerRound(r.Scenario, "backend alone", (miss, _) => miss.P50 - backendMs, "0.00"),
                "cache-hit" when PerRound(r.Scenario, "ceiling", (mine, theirs) => mine.Throughput / theirs.Throughput, "0.00") is { Length: > 0 } throughput =>
                    $"req/s vs ceiling{throughput}; p99 vs ceiling{PerRound(r.Scenario, "ceiling", (mine, theirs) => mine.P99 / theirs.P99, "0.00")}",
                "ceiling (tracing on)" when ceiling is not null => $"a bare endpoint's {TracingRatio(r, ceiling)}",
                "backend alone" => $"the loopback backend called directly: {r.P50 - backendMs:0.00} ms over {backendMs:0} ms at p50",
                "cache-hit (tracing off)" when hit is not null => TracingRatio(hit, r),
                _ => notes.GetValueOrDefault(r.Scenario) ?? r.FirstError,
            })).ToList();
    }

    public static string Render(List<ScenarioRow> rows, Dictionary<string, object?> report)
    {
        var text = new StringBuilder();
        var cpu = report.GetValueOrDefault("cpuPerRequest") as IReadOnlyDictionary<string, CpuPerRequest> ?? new Dictionary<string, CpuPerRequest>();
        text.AppendLine($"| scenario | req/s | p50 ms | p90 ms | p99 ms | errors | req/s vs ceiling | p99 vs ceiling | CPU/request gateway · harness | note |");
        text.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---|---|");
        foreach (var r in rows)
        {
            var used = cpu.TryGetValue(r.Scenario, out var c) ? $"{c.GatewayMicroseconds:0} µs · {c.HarnessMicroseconds:0} µs" : "";
            text.AppendLine($"| {r.Scenario} | {r.Throughput:0} | {r.P50:0.00} | {r.P90:0.00} | {r.P99:0.00} | {r.Errors} | {r.ThroughputVsCeiling:0.00} | {r.P99VsCeiling:0.00} | {used} | {r.Note} |");
        }
        return text.ToString();
    }
}
