using Opossum.Grains.Hosting;
using Opossum.ServiceDefaults.Hosting;

namespace Opossum.Gateway.Hosting;

/// <summary>The gateway application; tests build the same app with extra configuration.</summary>
public static class GatewayApp
{
    public static WebApplication Build(string[] args, Action<WebApplicationBuilder>? customize = null)
    {
        var builder = OpossumStartup.CreateBuilder(args, "http://localhost:8000", Settings, ClusterPorts, customize);
        builder.AddOpossumGateway();

        var app = builder.Build();
        app.MapOpossumEndpoints();
        return app;
    }

    /// <summary>The configuration sections the gateway binds, with their types: the co-hosted silo's and its own.</summary>
    public static IReadOnlyList<(string Section, Type Type)> Settings =>
        [.. OpossumSiloExtensions.Settings, (Protection.LimitsOptions.Section, typeof(Protection.LimitsOptions))];

    // The gateway co-hosts a silo in both modes (in a cluster one without grains, with no Orleans gateway port).
    private static IEnumerable<(string Setting, int Port)> ClusterPorts(IConfiguration configuration)
    {
        var cluster = ClusterSettings.From(configuration);
        return cluster.Ports(orleansGateway: cluster.Clustering == ClusterSettings.Localhost);
    }
}
