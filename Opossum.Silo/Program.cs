using Opossum.Grains.Hosting;
using Opossum.ServiceDefaults.Health;
using Opossum.ServiceDefaults.Hosting;
using Orleans.Dashboard;

return StartupGuard.Run("opossum-silo", () =>
{
    var builder = OpossumStartup.CreateBuilder(args, "http://localhost:8081", OpossumSiloExtensions.Settings,
        configuration => ClusterSettings.From(configuration).Ports(orleansGateway: true));
    builder.AddOpossumSilo(silo => silo.AddDashboard());
    builder.Services.AddHealthChecks();

    var app = builder.Build();
    app.MapOpossumDefaultEndpoints();
    app.MapOrleansDashboard("/dashboard");
    return app;
});
