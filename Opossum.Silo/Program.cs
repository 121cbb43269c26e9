using Opossum.Grains.Hosting;
using Opossum.ServiceDefaults.Configuration;
using Opossum.ServiceDefaults.Health;
using Opossum.ServiceDefaults.Hosting;
using Opossum.ServiceDefaults.Telemetry;
using Orleans.Dashboard;

return StartupGuard.Run("opossum-silo", () =>
{
    var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
    builder.Configuration.AddOpossumModels().AddOpossumEnvironment();
    StartupLogging.EnsureLevelsValid(builder.Configuration);
    SettingsCheck.Ensure(builder.Configuration, OpossumSiloExtensions.Settings);
    var urls = DefaultUrls.Apply(builder, "http://localhost:8081");
    var cluster = ClusterSettings.From(builder.Configuration);
    StartupGuard.EnsurePortsFree([
        .. StartupGuard.PortsOf(urls).Select(p => ("ASPNETCORE_URLS", p)),
        ("OPOSSUM_SILO_PORT", cluster.SiloPort),
        ("OPOSSUM_GATEWAY_PORT", cluster.GatewayPort)]);
    builder.AddOpossumTelemetry();
    builder.AddOpossumSilo(silo => silo.AddDashboard());
    builder.Services.AddHealthChecks();
    builder.Logging.AddStartupFailureFilter();

    var app = builder.Build();
    app.MapOpossumDefaultEndpoints();
    app.MapOrleansDashboard("/dashboard");
    return app;
});
