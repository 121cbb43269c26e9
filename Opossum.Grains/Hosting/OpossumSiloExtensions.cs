using Opossum.ServiceDefaults.Configuration;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Opossum.Grains.Availability;
using Opossum.Grains.Backends;
using Opossum.Grains.Backends.Gemini;
using Opossum.Grains.Backends.Ollama;
using Opossum.Grains.Caching;
using Opossum.Grains.Conversations;
using Opossum.Grains.Models;
using Opossum.Grains.Routing;
using Orleans.Configuration;

namespace Opossum.Grains.Hosting;

/// <summary>Wiring for a silo that hosts Opossum's grains: their settings, storage, catalog, backends and call timeout.</summary>
public static class OpossumSiloExtensions
{
    /// <summary>Everything a silo needs to run Opossum's grains, except clustering.</summary>
    public static ISiloBuilder AddOpossumGrains(this ISiloBuilder silo, IConfiguration configuration)
    {
        silo.AddActivityPropagation();
        silo.AddOpossumStorage(configuration);
        silo.AddStartupTask<ServiceMonitorStartup>();
        var grainCallTimeout = GrainCallTimeout(configuration);
        silo.Configure<SiloMessagingOptions>(o => o.ResponseTimeout = grainCallTimeout);

        var services = silo.Services;
        services.AddOpossumModelCatalog(configuration);
        services.TryAddKeyedSingleton(ProviderNames.Clock, TimeProvider.System);
        services.AddOptions<CacheOptions>().Bind(configuration.GetSection(CacheOptions.Section)).ValidateProblemsOnStart(o => o.Problems());
        services.AddOptions<ConversationOptions>().Bind(configuration.GetSection(ConversationOptions.Section)).ValidateProblemsOnStart(o => o.Problems());
        services.AddOptions<AvailabilityOptions>().Bind(configuration.GetSection(AvailabilityOptions.Section)).ValidateProblemsOnStart(o => o.Problems());
        services.AddOptions<OllamaOptions>().Bind(configuration.GetSection(OllamaOptions.Section)).ValidateProblemsOnStart(o => o.Problems());
        services.AddOptions<GeminiOptions>().Bind(configuration.GetSection(GeminiOptions.Section)).ValidateProblemsOnStart(o => o.Problems());
        services.AddOptions<RoutingOptions>().Bind(configuration.GetSection(RoutingOptions.Section)).ValidateProblemsOnStart(o => o.Problems());

        // Timeouts are the backend's own (per request); the handler's default 100 s must not cut them short.
        services.AddHttpClient<OllamaBackend>(http => http.Timeout = Timeout.InfiniteTimeSpan);
        services.AddHttpClient<GeminiBackend>(http => http.Timeout = Timeout.InfiniteTimeSpan);
        services.AddSingleton<IChatBackend>(sp => sp.GetRequiredService<OllamaBackend>());
        services.AddSingleton<IChatBackend>(sp => sp.GetRequiredService<GeminiBackend>());
        services.AddSingleton<BackendRegistry>();
        services.AddSingleton<ModelRouter>();
        services.AddSingleton<CacheCounters>();
        services.AddSingleton<SiloCache>();
        services.AddSingleton<ChatEngine>();
        services.AddSingleton<ConversationStarter>();
        return silo;
    }

    /// <summary>The configuration sections a silo binds, with their types: checked before anything binds them.</summary>
    public static IReadOnlyList<(string Section, Type Type)> Settings =>
    [
        (CacheOptions.Section, typeof(CacheOptions)),
        (ConversationOptions.Section, typeof(ConversationOptions)),
        (AvailabilityOptions.Section, typeof(AvailabilityOptions)),
        (RoutingOptions.Section, typeof(RoutingOptions)),
        (OllamaOptions.Section, typeof(OllamaOptions)),
        (GeminiOptions.Section, typeof(GeminiOptions)),
        ("Models", typeof(List<ModelDefinition>)),
        ("Opossum:GrainCallTimeout", typeof(TimeSpan)),
        ("Orleans:Membership", typeof(ClusterMembershipOptions)),
        ("Orleans:Messaging", typeof(SiloMessagingOptions)),
    ];

    /// <summary>
    /// How long a grain call may take (<c>Opossum:GrainCallTimeout</c>): by default the slowest backend's
    /// queue and request timeouts plus 30 s, so a backend's own timeouts speak first. A call to a silo that
    /// dies does not wait for it: membership breaks it (docs/operations.md).
    /// </summary>
    public static TimeSpan GrainCallTimeout(IConfiguration configuration)
    {
        if (configuration.GetValue<TimeSpan?>("Opossum:GrainCallTimeout") is { } configured)
            return configured > TimeSpan.Zero ? configured : throw SettingsCheck.Invalid("Opossum:GrainCallTimeout must be positive.");
        var ollama = configuration.GetSection(OllamaOptions.Section).Get<OllamaOptions>() ?? new OllamaOptions();
        var gemini = configuration.GetSection(GeminiOptions.Section).Get<GeminiOptions>() ?? new GeminiOptions();
        var slowest = new[] { ollama.RequestTimeout + ollama.QueueTimeout, gemini.RequestTimeout + gemini.QueueTimeout }.Max();
        return slowest + TimeSpan.FromSeconds(30);
    }
}
