using System.Net;
using Opossum.Tests.Support;

namespace Opossum.Tests.Telemetry;

/// <summary>What reaches an OTLP/HTTP collector: a receiver on loopback decodes the protobuf bodies.</summary>
public sealed class OtlpExportTests : IAsyncLifetime
{
    private FakeOllama _ollama = null!;
    private OtlpReceiver _receiver = null!;

    public async Task InitializeAsync()
    {
        _ollama = await FakeOllama.StartAsync();
        _receiver = await OtlpReceiver.StartAsync();
    }

    public async Task DisposeAsync()
    {
        await _receiver.DisposeAsync();
        await _ollama.DisposeAsync();
    }

    private Task<GatewayHost> StartGatewayAsync(string endpoint, string enabled = "true") =>
        GatewayHost.StartAsync(_ollama.BaseUrl, new Dictionary<string, string?>
        {
            ["OTEL_ENABLED"] = enabled,
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint,
            ["OTEL_SERVICE_NAME"] = "opossum-under-test",
            ["ENV"] = "ci",
            // Export promptly so the test does not wait for the default 5 s batch.
            ["OTEL_BSP_SCHEDULE_DELAY"] = "200",
            ["OTEL_METRIC_EXPORT_INTERVAL"] = "500",
        });

    [Theory]
    [InlineData("/v1/traces")]
    [InlineData("")]
    public async Task Spans_reach_the_collector_as_protobuf_with_the_resource(string path)
    {
        await using var gateway = await StartGatewayAsync(_receiver.BaseUrl.ToString().TrimEnd('/') + path);

        var result = await gateway.ChatAsync(new { message = $"to the collector {Guid.NewGuid():N}" });
        var traceId = result.Data!["chat"]!["traceId"]!.GetValue<string>();

        var spans = await WaitForAsync(() => _receiver.Spans.Where(s => s.TraceId == traceId).ToList(),
            s => s.Any(x => x.Name == "POST /graphql") && s.Any(x => x.Name == "ollama.generate"));
        Assert.Contains(spans, s => s.Name == "model.generate" && s.Attributes["model.name"] == "gemma3:1b");
        Assert.Contains(spans, s => s.Name == "IConversationStarterGrain/Start");
        var resource = spans[0].Resource;
        Assert.Equal("opossum-under-test", resource["service.name"]);
        Assert.Equal("ci", resource["environment"]);
        Assert.Equal("ci", resource["deployment.environment.name"]);
        Assert.False(string.IsNullOrEmpty(resource["service.instance.id"]));
        Assert.StartsWith("0.1.0", resource["service.version"]);
        await WaitForAsync(() => _receiver.MetricsPosts, n => n > 0);
    }

    [Fact]
    public async Task With_OTEL_ENABLED_false_nothing_is_sent_and_metrics_say_so()
    {
        await using var gateway = await StartGatewayAsync(_receiver.BaseUrl + "v1/traces", enabled: "false");

        var result = await gateway.ChatAsync(new { message = "quietly" });
        await Task.Delay(1500); // four export intervals of the enabled configuration
        using var metrics = await gateway.GetUntracedAsync("/metrics");
        using var traces = await gateway.GetUntracedAsync("/traces/recent");

        Assert.Empty(result.Errors);
        Assert.Matches("^[0-9a-f]{32}$", result.Data!["chat"]!["traceId"]!.GetValue<string>());
        Assert.Equal(0, _receiver.TracePosts);
        Assert.Equal(0, _receiver.MetricsPosts);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, metrics.StatusCode);
        Assert.Contains("disabled", await metrics.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.ServiceUnavailable, traces.StatusCode);
        Assert.Empty(gateway.Spans);
    }

    private static async Task<T> WaitForAsync<T>(Func<T> read, Func<T, bool> done)
    {
        // Generous: under a full parallel test run the exporter's thread can be starved for a while.
        for (var i = 0; i < 300; i++)
        {
            var value = read();
            if (done(value)) return value;
            await Task.Delay(100);
        }
        return read();
    }
}
