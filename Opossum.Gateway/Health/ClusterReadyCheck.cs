using Microsoft.Extensions.Diagnostics.HealthChecks;
using OpenTelemetry;
using Opossum.Grains;

namespace Opossum.Gateway.Health;

/// <summary>Ready when a grain call round-trips through the cluster within two seconds.</summary>
public sealed class ClusterReadyCheck(IGrainFactory grains) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        // Probes come every few seconds; their grain call must not become a trace of its own.
        using var quiet = SuppressInstrumentationScope.Begin();
        try
        {
            await grains.GetGrain<ICacheStatsGrain>(0).Get().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
            return HealthCheckResult.Healthy("cluster reachable");
        }
        catch (Exception ex) when (ex is TimeoutException or OrleansException)
        {
            return HealthCheckResult.Unhealthy($"cluster not reachable: {ex.Message}");
        }
    }
}
