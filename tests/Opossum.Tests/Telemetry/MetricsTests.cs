using System.Diagnostics;
using System.Text.RegularExpressions;
using Opossum.Tests.Gateway;
using Opossum.Tests.Support;

namespace Opossum.Tests.Telemetry;

[Collection(IsolatedCollection.Name)]
public sealed class MetricsTests(GatewayFixture fixture)
{
    private async Task<string> ScrapeAsync()
    {
        using var response = await fixture.Gateway.GetUntracedAsync("/metrics");
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsStringAsync();
    }

    private static double Value(string exposition, string series)
    {
        var match = Regex.Match(exposition, "^" + Regex.Escape(series) + @"(\{[^}]*\})? ([0-9.eE+-]+)", RegexOptions.Multiline);
        return match.Success ? double.Parse(match.Groups[2].Value, System.Globalization.CultureInfo.InvariantCulture) : 0;
    }

    [Fact]
    public async Task Cache_counters_count_hits_and_misses_and_the_exposition_passes_promtool()
    {
        var before = await ScrapeAsync();
        var a = $"metrics a {Guid.NewGuid():N}";
        var b = $"metrics b {Guid.NewGuid():N}";
        foreach (var prompt in new[] { a, a, a, b, b })
            await fixture.Gateway.ChatAsync(new { message = prompt });

        var after = await ScrapeAsync();

        Assert.Equal(3, Value(after, "opossum_cache_hits_total") - Value(before, "opossum_cache_hits_total"));
        Assert.Equal(2, Value(after, "opossum_cache_misses_total") - Value(before, "opossum_cache_misses_total"));
        Assert.Contains("opossum_service_available{otel_scope_name=\"Opossum\",service=\"ollama\"} 1", after);
        Assert.Contains("gen_ai_client_operation_duration_seconds_bucket{", after);
        Assert.Contains("gen_ai_client_token_usage_bucket{", after);
        Assert.Matches("(?m)^opossum_slot_wait_duration_seconds_bucket\\{[^}]*service=\"ollama\"", after); // time spent waiting for a server's slot
        Assert.Contains("http_server_request_duration_seconds_bucket{", after);
        Assert.Contains("http_client_request_duration_seconds_bucket{", after);
        Assert.Contains("dotnet_gc_collections_total", after);
        Assert.Matches(@"(?m)^orleans_", after);

        // promtool exits 1 when the exposition does not parse and 3 for lint findings. The .NET runtime's
        // and Orleans' own metric names draw lint findings (e.g. "_count" gauges, milliseconds); ours must draw none.
        var (exitCode, output) = await PromtoolAsync(after);
        Assert.True(exitCode is 0 or 3, $"promtool could not parse /metrics ({exitCode}):\n{output}");
        var findings = output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.DoesNotContain(findings, f => f.StartsWith("opossum_") || f.StartsWith("gen_ai_"));
    }

    [Fact]
    public async Task Counters_updated_per_memory_block_or_route_match_are_not_collected()
    {
        await fixture.Gateway.ChatAsync(new { message = $"metrics c {Guid.NewGuid():N}" });

        var exposition = await ScrapeAsync();

        // Dropped by a view (TelemetryExtensions.DroppedInstruments): updated on every block or request, they cost CPU and add nothing.
        Assert.DoesNotContain("aspnetcore_memory_pool_rented", exposition);
        Assert.DoesNotContain("aspnetcore_memory_pool_pooled", exposition);
        Assert.DoesNotContain("aspnetcore_routing_match_attempts", exposition);
        // The rest of those meters stays: what the pool allocated, and every request's duration by route.
        Assert.Matches(@"(?m)^aspnetcore_memory_pool_allocated_bytes_total\{[^}]*\} [1-9]", exposition);
        Assert.Matches(@"(?m)^http_server_request_duration_seconds_count\{[^}]*http_route=""/graphql""", exposition);
    }

    private static async Task<(int ExitCode, string Output)> PromtoolAsync(string exposition)
    {
        var info = new ProcessStartInfo("promtool", "check metrics")
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info) ?? throw new InvalidOperationException("promtool did not start");
        await process.StandardInput.WriteAsync(exposition);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, output);
    }
}
