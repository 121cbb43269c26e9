using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Opossum.ServiceDefaults.Configuration;
using Opossum.ServiceDefaults.Telemetry;

namespace Opossum.ServiceDefaults.Hosting;

/// <summary>The start-up every Opossum process shares, up to what is its own.</summary>
public static class OpossumStartup
{
    /// <summary>
    /// A builder with Opossum's configuration (<c>models.json</c> under everything, the documented variables over it),
    /// every setting checked before anything binds it, the ports the process listens on free, and telemetry.
    /// </summary>
    /// <param name="defaultUrls">The HTTP listen address when neither ASPNETCORE_URLS nor --urls gives one.</param>
    /// <param name="settings">The sections the process binds, with their types (<see cref="SettingsCheck"/>).</param>
    /// <param name="clusterPorts">The Orleans ports the process listens on, with the settings that move them.</param>
    /// <param name="customize">Configuration added over <c>models.json</c> and under the variables (tests).</param>
    public static WebApplicationBuilder CreateBuilder(string[] args, string defaultUrls, IReadOnlyList<(string Section, Type Type)> settings,
        Func<IConfiguration, IEnumerable<(string Setting, int Port)>> clusterPorts, Action<WebApplicationBuilder>? customize = null)
    {
        var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
        builder.Configuration.AddOpossumModels();
        customize?.Invoke(builder);
        builder.Configuration.AddOpossumEnvironment();
        StartupLogging.EnsureLevelsValid(builder.Configuration);
        SettingsCheck.Ensure(builder.Configuration, settings);
        var urls = DefaultUrls.Apply(builder, defaultUrls);
        StartupGuard.EnsurePortsFree([.. StartupGuard.PortsOf(urls).Select(p => ("ASPNETCORE_URLS", p)), .. clusterPorts(builder.Configuration)]);
        builder.AddOpossumTelemetry();
        builder.Logging.AddStartupFailureFilter();
        return builder;
    }
}
