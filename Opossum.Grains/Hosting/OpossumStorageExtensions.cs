using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Opossum.Grains.Caching;
using Opossum.Grains.Conversations;
using Opossum.Grains.Storage;
using Orleans.Persistence;
using Orleans.Runtime.Hosting;
using Orleans.Serialization;
using Orleans.Storage;
using StackExchange.Redis;

namespace Opossum.Grains.Hosting;

/// <summary>Where a silo keeps grain state, and the process's connection to Redis.</summary>
public static class OpossumStorageExtensions
{
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
                sp.GetRequiredService<Serializer>(), limits, sp.GetRequiredKeyedService<TimeProvider>(ProviderNames.Clock)));

        void AddRedis(string name, TimeSpan? expiry)
        {
            // Orleans' own registration: the provider's options, their validation, its place in the silo's lifecycle.
            silo.AddRedisGrainStorage(name, options => options.Configure<Serializer, IGrainStorageSerializer>((o, serializer, json) =>
            {
                o.ConfigurationOptions = ClusterSettings.ParseRedis(redis);
                o.DeleteStateOnClear = true;
                o.EntryExpiry = expiry;
                o.GrainStorageSerializer = new RedisStateSerializer(serializer, json, writeJson);
            }));
            // A Redis outage is STORAGE_UNAVAILABLE to the client. The last registration of a key is the one resolved, so
            // this one, built by Orleans' factory and wrapped, is the provider; the lifecycle Orleans registered reaches it.
            silo.Services.AddKeyedSingleton<IGrainStorage>(name, (sp, _) => new StorageOutages(RedisGrainStorageFactory.Create(sp, name)));
        }
    }

    /// <summary>The process's one connection to Redis (trace summaries, counters, readiness), from <c>REDIS_CONNECTION</c>.</summary>
    public static IServiceCollection AddOpossumRedis(this IServiceCollection services, string connection)
    {
        services.TryAddSingleton<IConnectionMultiplexer>(_ => ConnectionMultiplexer.Connect(ClusterSettings.ParseRedis(connection)));
        return services;
    }
}
