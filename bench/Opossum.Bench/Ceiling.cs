using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Hosting;
using Opossum.ServiceDefaults.Configuration;
using Opossum.ServiceDefaults.Telemetry;
using Opossum.Testing;
using Opossum.Testing.Processes;

namespace Opossum.Bench;

/// <summary>
/// The ceiling: a bare endpoint that reads the request and answers a fixed JSON body the size of the
/// gateway's cached answer (what this machine can do at all), in a process of its own like the gateway
/// it is compared with. Traced, it runs Opossum's telemetry wiring too: what tracing costs a bare endpoint.
/// </summary>
public static class Ceiling
{
    private const string ChildMode = "--serve-ceiling";

    /// <summary>Whether this process is a ceiling started by <see cref="StartAsync"/>.</summary>
    public static bool IsChild(string[] args) => args is [ChildMode, ..];

    /// <summary>The child's side: <c>--serve-ceiling PORT BYTES [--traced]</c>, served until the harness kills it.</summary>
    public static async Task<int> ServeAsync(string[] args)
    {
        if (args is not [ChildMode, var port, var bytes, .. var rest])
            throw new ArgumentException($"{ChildMode} PORT BYTES [--traced]");
        var app = await LoopbackServer.StartAsync(app => Map(app, int.Parse(bytes)), int.Parse(port),
            configure: rest is ["--traced"] ? AddTelemetry : null);
        await app.WaitForShutdownAsync();
        return 0;
    }

    /// <summary>Starts a ceiling process answering <paramref name="answerBytes"/>; traced when <paramref name="traceTo"/> is a collector.</summary>
    public static async Task<(ChildProcess Process, Uri GraphQL)> StartAsync(string scenario, int answerBytes, Uri? traceTo, double? sampleRatio)
    {
        var port = FreePorts.Next();
        // A traced ceiling is configured as the traced gateway is: the same variables, sampling as it does (--sample).
        var traced = traceTo is null ? null : new Dictionary<string, string>(Deployment.Sampling(sampleRatio))
        {
            ["OTEL_EXPORTER_OTLP_ENDPOINT"] = traceTo.ToString(),
            ["OTEL_SERVICE_NAME"] = "opossum-bench-ceiling",
        };
        var child = ChildProcess.Start(scenario, "dotnet",
            $"\"{typeof(Ceiling).Assembly.Location}\" {ChildMode} {port} {answerBytes}{(traced is null ? "" : " --traced")}", traced);
        await child.WaitForPortAsync(port, TimeSpan.FromSeconds(30));
        return (child, new Uri($"http://127.0.0.1:{port}/graphql"));
    }

    /// <summary>
    /// Opossum's telemetry wiring as the gateway has it, configured as the gateway is (its <c>OTEL_*</c>
    /// variables): traces of the ASP.NET Core instrumentation exported over OTLP, the trace summaries,
    /// ASP.NET Core and runtime metrics for both readers.
    /// </summary>
    private static void AddTelemetry(WebApplicationBuilder builder)
    {
        builder.Configuration.AddOpossumEnvironment();
        builder.AddOpossumTelemetry();
    }

    private static void Map(WebApplication app, int bodyBytes)
    {
        var prefix = "{\"data\":{\"chat\":{\"message\":\"";
        var suffix = "\"}}}";
        var body = Encoding.UTF8.GetBytes(prefix + new string('x', Math.Max(0, bodyBytes - prefix.Length - suffix.Length)) + suffix);
        app.MapPost("/graphql", async (HttpContext context) =>
        {
            await context.Request.Body.CopyToAsync(Stream.Null);
            context.Response.ContentType = "application/graphql-response+json; charset=utf-8";
            context.Response.ContentLength = body.Length;
            await context.Response.Body.WriteAsync(body);
        });
    }
}
