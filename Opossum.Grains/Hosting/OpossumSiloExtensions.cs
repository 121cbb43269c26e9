using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using Opossum.Grains.Availability;
using Opossum.Grains.Backends;
using Opossum.Grains.Backends.Gemini;
using Opossum.Grains.Backends.Ollama;
using Opossum.Grains.Routing;
using Opossum.Grains.Storage;
using Orleans.Runtime.Hosting;
using Opossum.Grains.Caching;
using Opossum.Grains.Conversations;
using Opossum.Grains.Models;
using Orleans.Configuration;
using StackExchange.Redis;

namespace Opossum.Grains.Hosting;

/// <summary>Wiring for a silo that hosts Opossum's grains.</summary>
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
        services.TryAddTimeProvider();
        services.AddOptions<CacheOptions>().Bind(configuration.GetSection(CacheOptions.Section))
            .Validate(o => o.Ttl > TimeSpan.Zero, "Opossum:Cache:Ttl must be positive.")
            .Validate(o => o.LocalEntries >= 0, "Opossum:Cache:LocalEntries must not be negative.").ValidateOnStart();
        services.AddOptions<ConversationOptions>().Bind(configuration.GetSection(ConversationOptions.Section))
            .Validate(o => o.ContextExchanges > 0, "Opossum:Conversations:ContextExchanges must be at least 1.")
            .Validate(o => o.IdleExpiry > TimeSpan.Zero, "Opossum:Conversations:IdleExpiry must be positive.")
            .Validate(o => o.MaxInMemory > 0, "Opossum:Conversations:MaxInMemory must be at least 1.").ValidateOnStart();
        services.AddOptions<AvailabilityOptions>().Bind(configuration.GetSection(AvailabilityOptions.Section))
            .Validate(o => o.CheckPeriod >= TimeSpan.FromSeconds(1), "Opossum:Availability:CheckPeriod must be at least 1 s.")
            .Validate(o => o.DegradedLatency > TimeSpan.Zero, "Opossum:Availability:DegradedLatency must be positive.").ValidateOnStart();
        services.AddOptions<OllamaOptions>().Bind(configuration.GetSection(OllamaOptions.Section))
            .Validate(o => o.RequestTimeout > TimeSpan.Zero, "Backends:Ollama:RequestTimeout must be positive.")
            .Validate(o => o.QueueTimeout > TimeSpan.Zero, "Backends:Ollama:QueueTimeout must be positive.")
            .Validate(o => o.CheckTimeout > TimeSpan.Zero, "Backends:Ollama:CheckTimeout must be positive.")
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<OllamaOptions>>(new OptionsProblems<OllamaOptions>(OllamaProblems));
        services.AddOptions<GeminiOptions>().Bind(configuration.GetSection(GeminiOptions.Section))
            .Validate(o => o.BaseUrl.IsAbsoluteUri && o.BaseUrl.Scheme is "http" or "https", "GEMINI_BASE_URL must be an absolute http(s) URL.")
            .Validate(o => o.Parallelism > 0, "Backends:Gemini:Parallelism must be at least 1.")
            .Validate(o => o.RequestTimeout > TimeSpan.Zero, "Backends:Gemini:RequestTimeout must be positive.")
            .Validate(o => o.QueueTimeout > TimeSpan.Zero, "Backends:Gemini:QueueTimeout must be positive.")
            .Validate(o => o.CheckTimeout > TimeSpan.Zero, "Backends:Gemini:CheckTimeout must be positive.")
            .ValidateOnStart();
        services.AddOptions<RoutingOptions>().Bind(configuration.GetSection(RoutingOptions.Section))
            .Validate(o => o.MaxFallbacks >= 0, "Opossum:Routing:MaxFallbacks must not be negative.").ValidateOnStart();
        services.AddOptions<AvailabilityOptions>()
            .Validate(o => o.FailureThreshold > 0, "Opossum:Availability:FailureThreshold must be at least 1.")
            .Validate(o => o.CoolDown > TimeSpan.Zero, "Opossum:Availability:CoolDown must be positive.");

        // Timeouts are the backend's own (per request); the handler's default 100 s must not cut them short.
        services.AddHttpClient<OllamaBackend>(http => http.Timeout = Timeout.InfiniteTimeSpan);
        services.AddHttpClient<GeminiBackend>(http => http.Timeout = Timeout.InfiniteTimeSpan);
        services.AddSingleton<IChatBackend>(sp => sp.GetRequiredService<OllamaBackend>());
        services.AddSingleton<IChatBackend>(sp => sp.GetRequiredService<GeminiBackend>());
        services.AddSingleton<BackendRegistry>();
        services.AddSingleton<ModelRouter>();
        services.AddSingleton<CacheCounters>();
        services.AddSingleton<LocalAnswers>();
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
    /// Grain storage: Redis when <c>REDIS_CONNECTION</c> is set (state survives silos), otherwise this
    /// process's memory (standalone mode). Conversations and cache entries have providers of their own
    /// so that they expire (idle expiry, cache TTL) and, in memory, stay bounded in number.
    /// </summary>
    public static ISiloBuilder AddOpossumStorage(this ISiloBuilder silo, IConfiguration configuration)
    {
        var redis = configuration["Opossum:RedisConnection"];
        var conversations = configuration.GetSection(ConversationOptions.Section).Get<ConversationOptions>() ?? new ConversationOptions();
        var ttl = configuration.GetSection(CacheOptions.Section).Get<CacheOptions>()?.Ttl ?? new CacheOptions().Ttl;
        if (string.IsNullOrWhiteSpace(redis))
        {
            AddLocal(ProviderNames.Storage, new LocalStorageLimits(null, null));
            AddLocal(ProviderNames.ConversationStorage, new LocalStorageLimits(conversations.IdleExpiry, conversations.MaxInMemory));
            AddLocal(ProviderNames.CacheStorage, new LocalStorageLimits(ttl, null));
            return silo;
        }

        var writeJson = RedisStateSerializer.WritesJson(configuration[RedisStateSerializer.FormatSetting]);
        silo.Services.AddOpossumRedis(redis);
        AddRedis(ProviderNames.Storage, null);
        AddRedis(ProviderNames.ConversationStorage, conversations.IdleExpiry);
        AddRedis(ProviderNames.CacheStorage, ttl);
        return silo;

        void AddLocal(string name, LocalStorageLimits limits) =>
            silo.Services.AddGrainStorage(name, (sp, _) => new LocalMemoryGrainStorage(
                sp.GetRequiredService<Orleans.Serialization.Serializer>(), limits, sp.GetRequiredKeyedService<TimeProvider>(ProviderNames.Clock)));

        void AddRedis(string name, TimeSpan? expiry)
        {
            silo.AddRedisGrainStorage(name, options => options.Configure<Orleans.Serialization.Serializer, Orleans.Storage.IGrainStorageSerializer>((o, serializer, json) =>
            {
                o.ConfigurationOptions = ClusterSettings.ParseRedis(redis);
                o.DeleteStateOnClear = true;
                o.EntryExpiry = expiry;
                o.GrainStorageSerializer = new RedisStateSerializer(serializer, json, writeJson);
            }));
            // A Redis outage is STORAGE_UNAVAILABLE to the client: the provider is wrapped where it is registered.
            var provider = silo.Services.Last(d => d.ServiceType == typeof(Orleans.Storage.IGrainStorage) && Equals(d.ServiceKey, name));
            silo.Services.Remove(provider);
            silo.Services.AddKeyedSingleton<Orleans.Storage.IGrainStorage>(name, (sp, key) =>
                new StorageOutages((Orleans.Storage.IGrainStorage)provider.KeyedImplementationFactory!(sp, key)));
        }
    }

    /// <summary>The process's one connection to Redis (trace summaries, counters, readiness), from <c>REDIS_CONNECTION</c>.</summary>
    public static IServiceCollection AddOpossumRedis(this IServiceCollection services, string connection)
    {
        services.TryAddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(ClusterSettings.ParseRedis(connection)));
        return services;
    }

    /// <summary>Binds the model catalog (array <c>Models</c>, <c>Opossum:DefaultModel</c>) and validates it at start-up.</summary>
    public static IServiceCollection AddOpossumModelCatalog(this IServiceCollection services, IConfiguration configuration)
    {
        // A standalone gateway co-hosts a silo: both ask for the catalog, it is bound once.
        if (services.Any(d => d.ServiceType == typeof(IValidateOptions<ModelCatalogOptions>)))
            return services;
        services.AddOptions<ModelCatalogOptions>()
            .Configure(o =>
            {
                // One entry at a time: bound as a list, an entry with a value that does not convert is dropped without a word.
                o.Models = configuration.GetSection("Models").GetChildren().Select(m => m.Get<ModelDefinition>() ?? new ModelDefinition()).ToList();
                o.DefaultModel = configuration["Opossum:DefaultModel"];
            })
            .ValidateOnStart();
        services.AddSingleton<IValidateOptions<ModelCatalogOptions>>(new OptionsProblems<ModelCatalogOptions>(o => o.Validate(BackendNames.All)));
        return services;
    }

    private static IEnumerable<string> OllamaProblems(OllamaOptions options)
    {
        string? problem = null;
        try
        {
            _ = options.Servers;
        }
        catch (OptionsValidationException ex)
        {
            problem = string.Join("; ", ex.Failures);
        }
        if (problem is not null) yield return problem;
    }

    /// <summary>
    /// How long a grain call may take (<c>Opossum:GrainCallTimeout</c>): by default the slowest backend's
    /// queue and request timeouts plus 30 s, so a backend's own timeouts speak first. A call to a silo that
    /// dies does not wait for it: membership breaks it (docs/operations.md).
    /// </summary>
    public static TimeSpan GrainCallTimeout(IConfiguration configuration)
    {
        if (configuration.GetValue<TimeSpan?>("Opossum:GrainCallTimeout") is { } configured)
            return configured > TimeSpan.Zero ? configured : throw InvalidSetting.Because("Opossum:GrainCallTimeout must be positive.");
        var ollama = configuration.GetSection(OllamaOptions.Section).Get<OllamaOptions>() ?? new OllamaOptions();
        var gemini = configuration.GetSection(GeminiOptions.Section).Get<GeminiOptions>() ?? new GeminiOptions();
        var slowest = new[] { ollama.RequestTimeout + ollama.QueueTimeout, gemini.RequestTimeout + gemini.QueueTimeout }.Max();
        return slowest + TimeSpan.FromSeconds(30);
    }

    private static void TryAddTimeProvider(this IServiceCollection services)
    {
        services.TryAddKeyedSingleton(ProviderNames.Clock, TimeProvider.System);
    }

    /// <summary>Options validation that names every problem it finds.</summary>
    private sealed class OptionsProblems<T>(Func<T, IEnumerable<string>> problems) : IValidateOptions<T> where T : class
    {
        public ValidateOptionsResult Validate(string? name, T options)
        {
            var found = problems(options).ToList();
            return found.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(found);
        }
    }
}

/// <summary>Hosting of a whole Opossum silo in a process.</summary>
public static class OpossumSiloHostingExtensions
{
    /// <summary>
    /// Failure detection of a cluster member (a silo, or a cluster gateway): a silo that stops answering
    /// probes is declared dead within a few seconds (1 s probes, 3 missed), so the calls waiting on it fail
    /// and are retried elsewhere. Operators tune it with <c>Orleans__Membership__*</c> and messaging with
    /// <c>Orleans__Messaging__*</c>.
    /// </summary>
    public static ISiloBuilder AddOpossumMembership(this ISiloBuilder silo, IConfiguration configuration)
    {
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromSeconds(1);
            o.NumMissedProbesLimit = 3;
        });
        silo.Configure<ClusterMembershipOptions>(configuration.GetSection("Orleans:Membership"));
        silo.Configure<SiloMessagingOptions>(configuration.GetSection("Orleans:Messaging"));
        return silo;
    }

    /// <summary>
    /// Runs a silo in this process: localhost clustering (standalone), or Redis clustering when
    /// <c>OPOSSUM_CLUSTERING=redis</c>, with Opossum's grains.
    /// </summary>
    public static IHostApplicationBuilder AddOpossumSilo(this IHostApplicationBuilder builder, Action<ISiloBuilder>? configure = null)
    {
        var cluster = ClusterSettings.From(builder.Configuration);
        builder.UseOrleans(silo =>
        {
            if (cluster.Clustering == ClusterSettings.Redis)
            {
                var redis = cluster.RequireRedis();
                silo.UseRedisClustering(o => o.ConfigurationOptions = redis);
                silo.Configure<ClusterOptions>(o =>
                {
                    o.ServiceId = cluster.ServiceId;
                    o.ClusterId = cluster.ClusterId;
                });
                silo.ConfigureEndpoints(cluster.AdvertisedAddress(), cluster.SiloPort, cluster.GatewayPort, listenOnAnyHostAddress: true);
                silo.AddOpossumMembership(builder.Configuration);
            }
            else
            {
                silo.UseLocalhostClustering(cluster.SiloPort, cluster.GatewayPort, serviceId: cluster.ServiceId, clusterId: cluster.ClusterId);
            }
            silo.AddOpossumGrains(builder.Configuration);
            configure?.Invoke(silo);
        });
        return builder;
    }
}
