using Opossum.Grains.Hosting;
using Opossum.ServiceDefaults.Configuration;
using Opossum.ServiceDefaults.Hosting;
using Opossum.ServiceDefaults.Telemetry;

namespace Opossum.Gateway.Hosting;

/// <summary>The gateway application; tests build the same app with extra configuration.</summary>
public static class GatewayApp
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? customize = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions
        {
            Args = args,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddOpossumModels();
        customize?.Invoke(builder);
        builder.Configuration.AddOpossumEnvironment();
        StartupLogging.EnsureLevelsValid(builder.Configuration);
        SettingsCheck.Ensure(builder.Configuration, Settings);
        var urls = DefaultUrls.Apply(builder, "http://localhost:8000");
        var cluster = ClusterSettings.From(builder.Configuration);
        // The gateway co-hosts a silo in both modes (in a cluster one without grains, with no Orleans gateway port).
        StartupGuard.EnsurePortsFree([
            .. StartupGuard.PortsOf(urls).Select(p => ("ASPNETCORE_URLS", p)),
            ("OPOSSUM_SILO_PORT", cluster.SiloPort),
            .. cluster.Clustering == ClusterSettings.Localhost ? new[] { ("OPOSSUM_GATEWAY_PORT", cluster.GatewayPort) } : []]);
        builder.AddOpossumTelemetry();
        builder.AddOpossumGateway();
        builder.Logging.AddStartupFailureFilter();

        var app = builder.Build();
        app.MapOpossumEndpoints();
        return app;
    }

    /// <summary>The configuration sections the gateway binds, with their types: the co-hosted silo's and its own.</summary>
    public static IReadOnlyList<(string Section, Type Type)> Settings =>
        [.. OpossumSiloExtensions.Settings, (Protection.LimitsOptions.Section, typeof(Protection.LimitsOptions))];
}
