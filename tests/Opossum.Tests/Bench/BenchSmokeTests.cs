using System.Text.Json.Nodes;
using Opossum.Tests.Cluster;
using Opossum.Tests.Support;
using Xunit.Abstractions;

namespace Opossum.Tests.Bench;

/// <summary>
/// The benchmark harness in smoke mode (a few seconds per scenario), so it never rots. Figures are
/// printed, never asserted: the test checks that every scenario ran without errors, that 200
/// identical new prompts still cost one backend call, and that Gemini, with capacity as shipped, is
/// given more than 4 generations at once.
/// </summary>
[Collection(IsolatedClusterCollection.Name)]
public sealed class BenchSmokeTests(ITestOutputHelper output)
{
    [Fact]
    public async Task The_harness_runs_every_scenario_and_writes_its_results()
    {
        // bench/results is not in git: on a clean clone the harness makes it.
        var results = Path.Combine(Repository.Root, "bench", "results", "smoke.json");
        if (File.Exists(results)) File.Delete(results);

        await using var bench = OpossumProcess.Start("bench", Path.Combine("bench", "Opossum.Bench"), FreePorts.Next(), new Dictionary<string, string>(), "--smoke");
        var finished = await bench.WaitForExitAsync(TimeSpan.FromMinutes(4));
        foreach (var line in bench.Output) output.WriteLine(line);

        Assert.True(finished, "the smoke run did not finish within 4 minutes");
        Assert.Equal(0, bench.ExitCode);
        var report = JsonNode.Parse(await File.ReadAllTextAsync(results))!;
        var scenarios = report["scenarios"]!.AsArray();
        Assert.Equal(["ceiling", "ceiling (tracing on)", "cache-hit", "cache-hit (tracing off)", "backend alone", "miss-overhead", "gemini-capacity"],
            scenarios.Select(s => s!["Scenario"]!.GetValue<string>()));
        Assert.All(scenarios, s => Assert.Equal(0, s!["Errors"]!.GetValue<long>()));
        Assert.All(scenarios, s => Assert.True(s!["Throughput"]!.GetValue<double>() > 0));
        // Every span of a cached chat (HTTP server, GraphQL operation, cache.get) reaches the collector:
        // none dropped by the exporter's queue under load.
        Assert.InRange(report["spansExportedPerRequest"]!["cache-hit"]!.GetValue<double>(), 2.9, 3.2);
        RepositoryDocs.AssertStates("docs/observability.md", "three spans");
        // The traced ceiling really runs the telemetry: one HTTP server span per request reaches its collector.
        Assert.InRange(report["spansExportedPerRequest"]!["ceiling (tracing on)"]!.GetValue<double>(), 0.9, 1.1);
        Assert.All(["ceiling", "ceiling (tracing on)", "cache-hit", "miss-overhead", "cache-hit (tracing off)"],
            name => Assert.True(report["cpuPerRequest"]![name]!["GatewayMicroseconds"]!.GetValue<double>() > 0, name));
        Assert.Equal(1, report["coalesce"]!["backendCalls"]!.GetValue<int>());
        Assert.Equal(200, report["coalesce"]!["answered"]!.GetValue<int>());
        Assert.True(report["memory"]!["rssMiB"]!["end"]!.GetValue<double>() > 0);
        Assert.NotNull(report["memory"]!["activations"]!["ResponseCacheGrain"]);
        // Every chat of 64 clients answered by Gemini itself (no fallback), many at once at its API.
        Assert.Equal(0, report["geminiCapacity"]!["failures"]!.GetValue<long>());
        Assert.True(report["geminiCapacity"]!["maxConcurrentAtApi"]!.GetValue<int>() > 4);
    }

    [Fact]
    public async Task Cluster_mode_without_redis_server_says_how_to_install_it()
    {
        // A PATH with only the dotnet host's own directory (past any /usr/bin symlink): no redis-server on it.
        var host = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator)
            .Select(dir => new FileInfo(Path.Combine(dir, "dotnet"))).First(f => f.Exists);
        var dotnet = Path.GetDirectoryName((host.ResolveLinkTarget(returnFinalTarget: true) ?? host).FullName)!;
        Assert.False(File.Exists(Path.Combine(dotnet, "redis-server")));
        await using var bench = OpossumProcess.Start("bench", Path.Combine("bench", "Opossum.Bench"), FreePorts.Next(),
            new Dictionary<string, string> { ["PATH"] = dotnet }, "--cluster --smoke");
        Assert.True(await bench.WaitForExitAsync(TimeSpan.FromSeconds(60)), "the harness did not exit");

        Assert.Equal(2, bench.ExitCode);
        var output = string.Join('\n', bench.Output);
        Assert.Contains("apt-get install -y redis-server", output);
        Assert.DoesNotContain("Unhandled exception", output);
    }

    [Fact]
    public async Task A_mistyped_option_is_refused_before_anything_starts()
    {
        await using var bench = OpossumProcess.Start("bench", Path.Combine("bench", "Opossum.Bench"), FreePorts.Next(), new Dictionary<string, string>(), "--round 3");
        Assert.True(await bench.WaitForExitAsync(TimeSpan.FromSeconds(60)), "the harness did not exit");

        Assert.Equal(2, bench.ExitCode);
        var output = string.Join('\n', bench.Output);
        Assert.Contains("unknown option '--round'", output);
        Assert.Contains("--rounds VALUE", output);
        Assert.DoesNotContain("deployment warm-up", output);
    }
}
