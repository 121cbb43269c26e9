using System.Diagnostics.CodeAnalysis;
using Opossum.Testing.Processes;

namespace Opossum.Bench;

/// <summary>Command line: --smoke, --cluster, --concurrency N, --seconds N, --warmup N, --deployment-warmup N, --rounds N, --window-warmup N, --soak N, --backend-latency MS, --only a,b, --sample RATIO.</summary>
public sealed record BenchOptions(bool Smoke, bool Cluster, int Concurrency, TimeSpan Warmup, TimeSpan Duration, TimeSpan SoakWarmup, TimeSpan Soak, int BackendLatencyMs)
{
    /// <summary>Scenario names <c>--only</c> accepts; all but <see cref="Doors"/> run by default.</summary>
    public static readonly string[] Scenarios = ["ceiling", "ceiling-traced", "cache-hit", "miss-overhead", "openai-hit", "openai-miss", "coalesce", "memory", "tracing-off", "gemini-capacity", "first-chunk", "streams"];

    /// <summary>
    /// The OpenAI door's scenarios, run only when named: they share the traced deployment (and its span collector) with
    /// cache-hit and miss-overhead, whose spans per request are then not counted.
    /// </summary>
    public static readonly string[] Doors = ["openai-hit", "openai-miss"];

    public IReadOnlySet<string> Only { get; init; } = Scenarios.Except(Doors).ToHashSet();

    /// <summary>
    /// Cache-hit load on each new deployment before its first scenario: a fresh gateway spends its first
    /// seconds under load compiling its hot paths, which a scenario's own warm-up would otherwise leave
    /// inside its measured window.
    /// </summary>
    public TimeSpan DeploymentWarmup { get; init; }

    /// <summary>
    /// Rounds in which the scenarios compared with each other (ceiling, cache-hit, tracing off; backend alone,
    /// miss-overhead) take turns; each scenario's measured time is split over them.
    /// </summary>
    public int Rounds { get; init; }

    /// <summary>Load on a scenario's server before each of its windows in a round is measured (its first window follows a full <see cref="Warmup"/>).</summary>
    public TimeSpan WindowWarmup { get; init; }

    /// <summary>
    /// Head sampling for the traced deployment (<c>OTEL_TRACES_SAMPLER=parentbased_traceidratio</c> with this
    /// ratio); null: every request traced, as shipped.
    /// </summary>
    public double? SampleRatio { get; init; }

    public bool Runs(string scenario) => Only.Contains(scenario);

    private static readonly string[] Switches = ["--smoke", "--cluster"];

    private static readonly string[] Valued = ["--concurrency", "--seconds", "--warmup", "--deployment-warmup", "--rounds",
        "--window-warmup", "--soak-warmup", "--soak", "--backend-latency", "--only", "--sample"];

    /// <summary>The options, or why they are refused: an unknown or malformed option, or <c>--cluster</c> without redis-server on PATH.</summary>
    public static bool TryParse(string[] args, [NotNullWhen(true)] out BenchOptions? options, [NotNullWhen(false)] out string? refusal)
    {
        try
        {
            options = Parse(args);
        }
        catch (ArgumentException ex)
        {
            (options, refusal) = (null, ex.Message);
            return false;
        }
        if (options.Cluster && !ChildProcess.OnPath("redis-server"))
        {
            (options, refusal) = (null, "--cluster starts its own redis-server, which is not on PATH (Debian: apt-get install -y redis-server).");
            return false;
        }
        refusal = null;
        return true;
    }

    private static BenchOptions Parse(string[] args)
    {
        for (var i = 0; i < args.Length; i++)
        {
            if (Valued.Contains(args[i])) i++;
            else if (!Switches.Contains(args[i]))
                throw new ArgumentException($"unknown option '{args[i]}'; options are {string.Join(", ", Switches)} and {string.Join(", ", Valued.Select(v => v + " VALUE"))}");
        }
        var smoke = args.Contains("--smoke");
        int Value(string name, int fallback)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length && int.TryParse(args[i + 1], out var v) && v > 0
                ? v
                : i >= 0 ? throw new ArgumentException($"{name} needs a positive number") : fallback;
        }
        return new BenchOptions(
            smoke,
            args.Contains("--cluster"),
            Value("--concurrency", 64),
            TimeSpan.FromSeconds(Value("--warmup", smoke ? 1 : 15)),
            TimeSpan.FromSeconds(Value("--seconds", smoke ? 2 : 20)),
            TimeSpan.FromSeconds(Value("--soak-warmup", smoke ? 1 : 20)),
            TimeSpan.FromSeconds(Value("--soak", smoke ? 3 : 300)),
            Value("--backend-latency", 50))
        {
            Only = OnlyScenarios(args),
            DeploymentWarmup = TimeSpan.FromSeconds(Value("--deployment-warmup", smoke ? 1 : 30)),
            Rounds = Value("--rounds", smoke ? 1 : 5),
            WindowWarmup = TimeSpan.FromSeconds(Value("--window-warmup", smoke ? 1 : 2)),
            SampleRatio = Ratio(args),
        };
    }

    private static double? Ratio(string[] args)
    {
        var i = Array.IndexOf(args, "--sample");
        if (i < 0) return null;
        return i + 1 < args.Length && double.TryParse(args[i + 1], System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var ratio) && ratio is > 0 and <= 1
            ? ratio
            : throw new ArgumentException("--sample needs a ratio greater than 0 and at most 1 (e.g. 0.1)");
    }

    private static HashSet<string> OnlyScenarios(string[] args)
    {
        var i = Array.IndexOf(args, "--only");
        if (i < 0) return Scenarios.Except(Doors).ToHashSet();
        var names = i + 1 < args.Length ? args[i + 1].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [];
        var unknown = names.Except(Scenarios).ToList();
        if (names.Length == 0 || unknown.Count > 0)
            throw new ArgumentException($"--only takes a comma-separated list of {string.Join(", ", Scenarios)}");
        return names.ToHashSet();
    }

    public string Describe() =>
        $"{(Cluster ? "cluster" : "standalone")}, concurrency {Concurrency}, {DeploymentWarmup.TotalSeconds:0} s warm-up per deployment, {Warmup.TotalSeconds:0} s warm-up + {Duration.TotalSeconds:0} s per scenario " +
        $"in {Rounds} interleaved round{(Rounds == 1 ? "" : "s")} ({WindowWarmup.TotalSeconds:0} s warm-up per window), " +
        $"soak {Soak.TotalSeconds:0} s, backend latency {BackendLatencyMs} ms{(Smoke ? " (smoke)" : "")}" +
        (SampleRatio is { } ratio ? $", traces sampled at {ratio.ToString(System.Globalization.CultureInfo.InvariantCulture)}" : "") +
        (Only.Count < Scenarios.Length ? $", only {string.Join(", ", Only)}" : "");
}
