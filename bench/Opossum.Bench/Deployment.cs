using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Opossum.Testing.Backends;
using Opossum.Testing.Processes;
using Orleans.Runtime;

namespace Opossum.Bench;

/// <summary>A running Opossum under test: standalone (one gateway process) or cluster (redis + 2 silos + gateway).</summary>
public sealed class Deployment : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _started = [];
    private IHost? _client;

    public required Uri Gateway { get; init; }
    public required OpossumProcess GatewayProcess { get; init; }
    public required string Mode { get; init; }
    private string ClusterId { get; init; } = "";
    private int OrleansGatewayPort { get; init; }
    private string? Redis { get; init; }

    /// <summary>
    /// The OpenTelemetry SDK's own settings for head sampling: a new trace is kept with probability
    /// <paramref name="ratio"/>, and every span follows its parent; none for null (every trace kept).
    /// </summary>
    public static Dictionary<string, string> Sampling(double? ratio) => ratio is { } r
        ? new()
        {
            ["OTEL_TRACES_SAMPLER"] = "parentbased_traceidratio",
            ["OTEL_TRACES_SAMPLER_ARG"] = r.ToString(System.Globalization.CultureInfo.InvariantCulture),
        }
        : [];

    /// <param name="gemini">
    /// Gemini's API root (<c>GEMINI_BASE_URL</c>, with <c>GEMINI_API_KEY</c> set): a deployment that measures
    /// Gemini's capacity, which runs every capacity setting as shipped. Without it, Gemini is disabled and
    /// Ollama's servers take 512 generations at once.
    /// </param>
    public static async Task<Deployment> StartAsync(bool cluster, bool tracing, Uri ollama, Uri sink, double? sampleRatio = null, Uri? gemini = null,
        int ollamaParallelism = 512)
    {
        var clusterId = "bench-" + Guid.NewGuid().ToString("N")[..6];
        var common = new Dictionary<string, string>
        {
            ["OLLAMA_BASE_URL"] = ollama.ToString(),
            ["OTEL_ENABLED"] = tracing ? "true" : "false",
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = sink.ToString(),
            ["OPOSSUM_CLUSTER_ID"] = clusterId,
        };
        if (gemini is null)
        {
            // 64 concurrent misses must not queue behind an Ollama server's default of 4 generations at once.
            common["OLLAMA_PARALLELISM"] = ollamaParallelism.ToString();
        }
        else
        {
            common["GEMINI_BASE_URL"] = gemini.ToString();
            common["GEMINI_API_KEY"] = FakeGemini.ApiKey;
        }
        foreach (var (key, value) in Sampling(sampleRatio))
            common[key] = value;
        var started = new List<IAsyncDisposable>();
        RedisServer? redis = null;
        int orleansGateway;
        if (cluster)
        {
            redis = await RedisServer.StartAsync();
            started.Add(redis);
            common["OPOSSUM_CLUSTERING"] = "redis";
            common["REDIS_CONNECTION"] = redis.ConnectionString;
            common["OPOSSUM_ADVERTISED_IP"] = "127.0.0.1";
            var silos = new List<OpossumProcess>();
            orleansGateway = 0;
            for (var i = 1; i <= 2; i++)
            {
                orleansGateway = FreePorts.Next();
                var silo = OpossumProcess.Start($"silo-{i}", "Opossum.Silo", FreePorts.Next(), new Dictionary<string, string>(common)
                {
                    ["OPOSSUM_SILO_PORT"] = FreePorts.Next().ToString(),
                    ["OPOSSUM_GATEWAY_PORT"] = orleansGateway.ToString(),
                    ["OTEL_SERVICE_NAME"] = $"opossum-silo-{i}",
                });
                started.Add(silo);
                silos.Add(silo);
            }
            foreach (var silo in silos)
                await silo.WaitReadyAsync(TimeSpan.FromSeconds(60), "/health");
        }
        else
        {
            orleansGateway = FreePorts.Next();
            common["OPOSSUM_SILO_PORT"] = FreePorts.Next().ToString();
            common["OPOSSUM_GATEWAY_PORT"] = orleansGateway.ToString();
        }

        var gatewayEnv = new Dictionary<string, string>(common) { ["OTEL_SERVICE_NAME"] = "opossum-gateway" };
        if (cluster)
            gatewayEnv["OPOSSUM_SILO_PORT"] = FreePorts.Next().ToString(); // the gateway is a member of the cluster (without grains)
        var gateway = OpossumProcess.Start("gateway", "Opossum.Gateway", FreePorts.Next(), gatewayEnv);
        started.Add(gateway);
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(60));

        var deployment = new Deployment
        {
            Gateway = gateway.Http,
            GatewayProcess = gateway,
            Mode = ModeName(cluster),
            ClusterId = clusterId,
            OrleansGatewayPort = orleansGateway,
            Redis = redis?.ConnectionString,
        };
        deployment._started.AddRange(started);
        return deployment;
    }

    public static string ModeName(bool cluster) => cluster ? "cluster (redis + 2 silos + gateway)" : "standalone";

    /// <summary>Activations per grain type across the cluster, read through the management grain as an operator would.</summary>
    public async Task<Dictionary<string, int>> ActivationsAsync()
    {
        if (_client is null)
        {
            var builder = Host.CreateApplicationBuilder();
            builder.Logging.ClearProviders();
            builder.UseOrleansClient(client =>
            {
                if (Redis is null)
                    client.UseLocalhostClustering(OrleansGatewayPort, "opossum", ClusterId);
                else
                {
                    client.UseRedisClustering(Redis);
                    client.Configure<Orleans.Configuration.ClusterOptions>(o => { o.ServiceId = "opossum"; o.ClusterId = ClusterId; });
                }
            });
            _client = builder.Build();
            await _client.StartAsync();
        }
        var management = _client.Services.GetRequiredService<IClusterClient>().GetGrain<IManagementGrain>(0);
        var statistics = await management.GetSimpleGrainStatistics();
        return statistics.GroupBy(s => ShortName(s.GrainType)).ToDictionary(g => g.Key, g => g.Sum(s => s.ActivationCount));
    }

    private static string ShortName(string grainType) => grainType.Split(',')[0].Split('.').Last();

    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.StopAsync();
            _client.Dispose();
        }
        foreach (var started in Enumerable.Reverse(_started))
            await started.DisposeAsync();
    }
}
