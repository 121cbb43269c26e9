using Opossum.ServiceDefaults.Configuration;
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
        customize?.Invoke(builder);
        builder.Configuration.AddOpossumEnvironment();
        builder.AddOpossumTelemetry();
        builder.AddOpossumGateway();

        var app = builder.Build();
        app.MapOpossumEndpoints();
        return app;
    }
}
