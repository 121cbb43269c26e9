using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;

namespace Opossum.ServiceDefaults.Telemetry;

/// <summary>OpenTelemetry wiring shared by the gateway and the silo.</summary>
public static class TelemetryExtensions
{
    /// <summary>Sources every Opossum process listens to. Orleans' Application source must stay registered for propagation (dotnet/orleans#9188).</summary>
    public static readonly string[] TraceSources = ["Opossum", "Microsoft.Orleans.Application", "GraphQL"];

    public static readonly string[] Meters = ["Opossum", "Microsoft.Orleans"];

    /// <summary>Paths that are never traced: probes and scrapes would drown the real traffic.</summary>
    public static bool IsUntracedPath(PathString path) =>
        path.StartsWithSegments("/health") || path.StartsWithSegments("/metrics");

    public static IHostApplicationBuilder AddOpossumTelemetry(this IHostApplicationBuilder builder)
    {
        var settings = TelemetrySettings.From(builder.Configuration);
        builder.Services.AddSingleton(settings);
        if (!settings.Enabled)
            return builder;

        builder.Services.AddOpenTelemetry()
            .ConfigureResource(resource => resource
                .AddService(settings.ServiceName, serviceVersion: settings.ServiceVersion, autoGenerateServiceInstanceId: true)
                .AddAttributes([
                    new("environment", settings.Environment),
                    new("deployment.environment.name", settings.Environment),
                ]))
            .WithTracing(tracing => tracing
                .AddSource(TraceSources)
                .AddAspNetCoreInstrumentation(o => o.Filter = context => !IsUntracedPath(context.Request.Path))
                .AddHttpClientInstrumentation()
                .AddOtlpExporter(o =>
                {
                    o.Protocol = OtlpExportProtocol.HttpProtobuf;
                    o.Endpoint = settings.TracesEndpoint;
                }))
            .WithMetrics(metrics => metrics
                .AddMeter(Meters)
                .AddAspNetCoreInstrumentation()
                .AddHttpClientInstrumentation()
                .AddRuntimeInstrumentation()
                .AddPrometheusExporter()
                .AddOtlpExporter(o =>
                {
                    o.Protocol = OtlpExportProtocol.HttpProtobuf;
                    o.Endpoint = settings.MetricsEndpoint;
                }));
        return builder;
    }
}
