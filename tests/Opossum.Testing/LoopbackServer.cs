using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Opossum.Testing;

/// <summary>A quiet Kestrel server on 127.0.0.1 (a free port unless told one), for the protocol servers tests and the benchmark talk to.</summary>
public static class LoopbackServer
{
    /// <param name="inline">
    /// Run requests on the socket's event thread (Kestrel's <c>UnsafePreferInlineScheduling</c>) instead of
    /// handing them to the thread pool: right for the benchmark's backend, whose handler is short and never
    /// blocks and whose every hop would be charged to the gateway; not for a server whose work is large.
    /// </param>
    /// <param name="configure">More services or settings, before the app is built.</param>
    public static async Task<WebApplication> StartAsync(Action<WebApplication> map, int port = 0, bool inline = false,
        Action<WebApplicationBuilder>? configure = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls($"http://127.0.0.1:{port}");
        if (inline)
            builder.WebHost.UseSockets(o => o.UnsafePreferInlineScheduling = true);
        configure?.Invoke(builder);
        var app = builder.Build();
        map(app);
        await app.StartAsync();
        return app;
    }

    /// <summary>Where a started server listens.</summary>
    public static Uri BaseUrl(this WebApplication app) =>
        new(app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First());
}
