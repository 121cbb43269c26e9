using System.Diagnostics;
using Opossum.Tests.Gateway;
using Opossum.Tests.Support;

namespace Opossum.Tests.Telemetry;

/// <summary>
/// Tests that read process-wide telemetry (every tracer and meter in this test process sees every
/// span and measurement), so they run alone, after the parallel collections.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class IsolatedCollection : ICollectionFixture<GatewayFixture>
{
    public const string Name = "isolated";
}

[Collection(IsolatedCollection.Name)]
public sealed class UntracedEndpointTests(GatewayFixture fixture)
{
    private List<Activity> Exported() => fixture.Gateway.Spans.Snapshot();

    [Fact]
    public async Task Health_and_metrics_produce_no_spans_and_orleans_runtime_is_not_exported()
    {
        var before = Exported().Count;
        using (await fixture.Gateway.GetUntracedAsync("/health")) { }
        using (await fixture.Gateway.GetUntracedAsync("/health/ready")) { }
        using (await fixture.Gateway.GetUntracedAsync("/metrics")) { }
        await Task.Delay(300);

        var after = Exported().Skip(before).ToList();
        Assert.DoesNotContain(after, s => s.GetTagItem("url.path") is string path && (path.StartsWith("/health") || path == "/metrics"));
        Assert.DoesNotContain(after, s => s.DisplayName.StartsWith("ICacheStatsGrain/Get"));
        Assert.DoesNotContain(Exported(), s => s.Source.Name == "Microsoft.Orleans.Runtime");
    }

}
