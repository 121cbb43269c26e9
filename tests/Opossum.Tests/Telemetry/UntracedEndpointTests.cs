using System.Diagnostics;
using System.Net.Http.Json;
using Opossum.Tests.Gateway;
using Opossum.Tests.Support;

namespace Opossum.Tests.Telemetry;

[Collection(IsolatedCollection.Name)]
public sealed class UntracedEndpointTests(GatewayFixture fixture)
{
    private List<Activity> Exported() => fixture.Gateway.Spans.Snapshot();

    [Fact]
    public async Task Health_and_metrics_produce_no_spans_and_orleans_runtime_is_not_exported()
    {
        var before = Exported().Count;
        // One connection: Kestrel ends a request's span before it reads the next request, so once the traced
        // marker's span is exported, the spans of the requests before it would have been.
        using var http = new HttpClient(new SocketsHttpHandler { ActivityHeadersPropagator = null, MaxConnectionsPerServer = 1 })
        {
            BaseAddress = fixture.Gateway.Http.BaseAddress,
        };
        using (await SendAsync(http, new HttpRequestMessage(HttpMethod.Get, "/health"))) { }
        using (await SendAsync(http, new HttpRequestMessage(HttpMethod.Get, "/health/ready"))) { }
        using (await SendAsync(http, new HttpRequestMessage(HttpMethod.Get, "/metrics"))) { }
        var marker = ActivityTraceId.CreateRandom().ToHexString();
        var traced = new HttpRequestMessage(HttpMethod.Post, "/graphql") { Content = JsonContent.Create(new { query = "{ __typename }" }) };
        traced.Headers.Add("traceparent", $"00-{marker}-{ActivitySpanId.CreateRandom().ToHexString()}-01");
        using (await SendAsync(http, traced)) { }
        await fixture.Gateway.Spans.SpansOfTraceAsync(marker, s => s.Kind == ActivityKind.Server);

        var after = Exported().Skip(before).ToList();
        Assert.DoesNotContain(after, s => s.GetTagItem("url.path") is string path && (path.StartsWith("/health") || path == "/metrics"));
        Assert.DoesNotContain(after, s => s.DisplayName.StartsWith("ICacheStatsGrain/Get"));
        Assert.DoesNotContain(Exported(), s => s.Source.Name == "Microsoft.Orleans.Runtime");
    }

    // Without a client span: the test's own HttpClient would otherwise be traced by the gateway's tracer in this process.
    private static async Task<HttpResponseMessage> SendAsync(HttpClient http, HttpRequestMessage request)
    {
        using (request)
        using (OpenTelemetry.SuppressInstrumentationScope.Begin())
            return await http.SendAsync(request);
    }
}
