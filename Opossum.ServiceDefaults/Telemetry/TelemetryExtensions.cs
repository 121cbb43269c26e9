using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using StackExchange.Redis;

namespace Opossum.ServiceDefaults.Telemetry;

/// <summary>OpenTelemetry wiring shared by the gateway and the silo: the one place that registers <see cref="TelemetrySources"/>.</summary>
public static class TelemetryExtensions
{
    /// <summary>
    /// Instruments of the ASP.NET Core meters that are not collected. Kestrel's memory pool updates
    /// <c>rented</c> and <c>pooled</c> on every block it hands out or takes back, and routing counts a
    /// match attempt per request: each aggregated by both metric readers, they showed up in profiles of
    /// the gateway under cached-chat load (docs/performance.md) and say nothing that
    /// <c>http.server.request.duration</c> and the pool's <c>allocated</c> − <c>evicted</c> (bytes it holds)
    /// do not. A dropped instrument is never enabled, so it costs nothing at all.
    /// </summary>
    public static readonly string[] DroppedInstruments =
        ["aspnetcore.memory_pool.rented", "aspnetcore.memory_pool.pooled", "aspnetcore.routing.match_attempts"];

    /// <summary>Paths that are never traced: probes and scrapes would drown the real traffic.</summary>
    public static bool IsUntracedPath(PathString path) =>
        path.StartsWithSegments("/health") || path.StartsWithSegments("/metrics");

    /// <summary>
    /// Spans the trace exporter holds while a post is under way, and sends per post, unless the SDK's own
    /// <c>OTEL_BSP_MAX_QUEUE_SIZE</c> / <c>OTEL_BSP_MAX_EXPORT_BATCH_SIZE</c> say otherwise. The SDK's 2 048 / 512
    /// fill within milliseconds on a busy gateway: a collector that answered one post more slowly than that made
    /// the gateway drop spans, and posting that often cost it CPU (docs/performance.md). Even full, the queue
    /// is a small part of a gateway's memory.
    /// </summary>
    public const int SpanQueue = 16_384, SpanBatch = 2_048;

    public static IHostApplicationBuilder AddOpossumTelemetry(this IHostApplicationBuilder builder)
    {
        var settings = TelemetrySettings.From(builder.Configuration);
        builder.Services.AddSingleton(settings);
        if (!settings.Enabled)
            return builder;

        if (builder.Configuration["Opossum:RedisConnection"] is { Length: > 0 })
        {
            builder.Services.AddSingleton<RedisTraceSummaryStore>();
            builder.Services.AddSingleton<ITraceSummaryStore>(sp => sp.GetRequiredService<RedisTraceSummaryStore>());
            builder.Services.AddHostedService(sp => sp.GetRequiredService<RedisTraceSummaryStore>());
        }
        else
        {
            builder.Services.AddSingleton<ITraceSummaryStore, InMemoryTraceSummaryStore>();
        }

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource
                .AddService(settings.ServiceName, serviceVersion: settings.ServiceVersion, autoGenerateServiceInstanceId: true)
                .AddAttributes([
                    new("environment", settings.Environment),
                    new("deployment.environment.name", settings.Environment),
                ]))
            .WithTracing(tracing => tracing
                .AddSource(TelemetrySources.Traced)
                .AddProcessor(new UntracedGrainCallProcessor())
                .AddProcessor(sp => new TraceSummaryProcessor(sp.GetRequiredService<ITraceSummaryStore>(), settings.ServiceName))
                .AddAspNetCoreInstrumentation(o => o.Filter = context => !IsUntracedPath(context.Request.Path))
                .AddHttpClientInstrumentation()
                .AddOtlpExporter(o =>
                {
                    o.Protocol = OtlpExportProtocol.HttpProtobuf;
                    o.Endpoint = settings.TracesEndpoint;
                    var batching = o.BatchExportProcessorOptions;
                    if (builder.Configuration["OTEL_BSP_MAX_QUEUE_SIZE"] is null)
                        batching.MaxQueueSize = SpanQueue;
                    if (builder.Configuration["OTEL_BSP_MAX_EXPORT_BATCH_SIZE"] is null)
                        batching.MaxExportBatchSize = Math.Min(SpanBatch, batching.MaxQueueSize);
                }))
            .WithMetrics(metrics => metrics
                .AddMeter(TelemetrySources.Metered)
                .AddView(instrument => DroppedInstruments.Contains(instrument.Name) ? MetricStreamConfiguration.Drop : null)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddPrometheusExporter(o => o.ScrapeResponseCacheDurationMilliseconds = 0)
                .AddOtlpExporter(o =>
                {
                    o.Protocol = OtlpExportProtocol.HttpProtobuf;
                    o.Endpoint = settings.MetricsEndpoint;
                }));
        return builder;
    }
}
