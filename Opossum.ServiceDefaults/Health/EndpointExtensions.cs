using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Diagnostics.HealthChecks;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Opossum.ServiceDefaults.Telemetry;

namespace Opossum.ServiceDefaults.Health;

/// <summary>The endpoints every Opossum process serves: <c>/health</c>, <c>/health/ready</c>, <c>/metrics</c>.</summary>
public static class EndpointExtensions
{
    /// <summary>Tag of the health checks that decide readiness.</summary>
    public const string ReadyTag = "ready";

    public static WebApplication MapOpossumDefaultEndpoints(this WebApplication app)
    {
        app.MapHealthChecks("/health", new HealthCheckOptions { Predicate = _ => false, ResponseWriter = WriteJson });
        app.MapHealthChecks("/health/ready", new HealthCheckOptions { Predicate = c => c.Tags.Contains(ReadyTag), ResponseWriter = WriteJson });

        if (app.Services.GetRequiredService<TelemetrySettings>().Enabled)
            app.MapPrometheusScrapingEndpoint("/metrics");
        else
            app.MapGet("/metrics", () => Results.Json(
                new { error = "OpenTelemetry is disabled (OTEL_ENABLED=false); no metrics are collected." },
                statusCode: StatusCodes.Status503ServiceUnavailable));
        return app;
    }

    private static Task WriteJson(HttpContext context, HealthReport report)
    {
        context.Response.ContentType = "application/json";
        var body = new
        {
            status = report.Status.ToString(),
            checks = report.Entries.ToDictionary(e => e.Key, e => new { status = e.Value.Status.ToString(), description = e.Value.Description }),
        };
        return context.Response.WriteAsync(JsonSerializer.Serialize(body));
    }
}
