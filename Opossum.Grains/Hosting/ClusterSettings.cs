using Opossum.ServiceDefaults.Configuration;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;
using StackExchange.Redis;

namespace Opossum.Grains.Hosting;

/// <summary>Cluster identity and ports (section <c>Opossum</c>, env <c>OPOSSUM_*</c>).</summary>
public sealed record ClusterSettings(string Clustering, string ServiceId, string ClusterId, int SiloPort, int GatewayPort,
    string? RedisConnection, string? AdvertisedIp)
{
    public const string Localhost = "localhost";
    public const string Redis = "redis";

    public static ClusterSettings From(IConfiguration configuration)
    {
        var section = configuration.GetSection("Opossum");
        var clustering = (section["Clustering"] ?? Localhost).Trim().ToLowerInvariant();
        if (clustering is not (Localhost or Redis))
            throw SettingsCheck.Invalid($"OPOSSUM_CLUSTERING must be 'localhost' or 'redis', not '{clustering}'.");
        return new ClusterSettings(
            clustering,
            section["ServiceId"] is { Length: > 0 } service ? service : "opossum",
            section["ClusterId"] is { Length: > 0 } cluster ? cluster : "dev",
            Port(section, "SiloPort", "OPOSSUM_SILO_PORT", 11111),
            Port(section, "GatewayPort", "OPOSSUM_GATEWAY_PORT", 30000),
            section["RedisConnection"] is { Length: > 0 } redis ? redis : null,
            section["AdvertisedIp"] is { Length: > 0 } ip ? ip : null);
    }

    /// <summary>The Orleans ports a silo of this process listens on, with the settings that move them; the gateway port only for Orleans clients.</summary>
    public IEnumerable<(string Setting, int Port)> Ports(bool orleansGateway) =>
        orleansGateway ? [("OPOSSUM_SILO_PORT", SiloPort), ("OPOSSUM_GATEWAY_PORT", GatewayPort)] : [("OPOSSUM_SILO_PORT", SiloPort)];

    /// <summary>The parsed <c>REDIS_CONNECTION</c>; redis clustering cannot do without it.</summary>
    public ConfigurationOptions RequireRedis()
    {
        if (RedisConnection is null)
            throw SettingsCheck.Invalid("OPOSSUM_CLUSTERING=redis needs REDIS_CONNECTION (e.g. localhost:6379).");
        return ParseRedis(RedisConnection);
    }

    /// <summary>
    /// The connection options every Redis client of a process uses. While Redis is down, commands fail at
    /// once (no backlog) and a command that gets no answer gives up after 2 s unless the connection string
    /// says otherwise, so clients get STORAGE_UNAVAILABLE quickly; reconnects are tried every second.
    /// </summary>
    public static ConfigurationOptions ParseRedis(string connection)
    {
        try
        {
            var options = ConfigurationOptions.Parse(connection);
            if (options.EndPoints.Count == 0)
                throw new ArgumentException("no host:port in it");
            options.BacklogPolicy = BacklogPolicy.FailFast;
            options.ReconnectRetryPolicy = new LinearRetry(1000);
            if (!connection.Contains("asyncTimeout", StringComparison.OrdinalIgnoreCase))
                options.AsyncTimeout = 2000;
            if (!connection.Contains("syncTimeout", StringComparison.OrdinalIgnoreCase))
                options.SyncTimeout = 2000;
            return options;
        }
        catch (ArgumentException ex)
        {
            throw SettingsCheck.Invalid($"REDIS_CONNECTION '{connection}' is not a valid StackExchange.Redis connection string: {ex.Message}");
        }
    }

    /// <summary>The address other silos and clients reach this silo at: <c>OPOSSUM_ADVERTISED_IP</c>, else this host's first non-loopback IPv4.</summary>
    public IPAddress AdvertisedAddress()
    {
        if (AdvertisedIp is not null)
            return IPAddress.TryParse(AdvertisedIp, out var ip) ? ip : throw SettingsCheck.Invalid($"OPOSSUM_ADVERTISED_IP must be an IP address, not '{AdvertisedIp}'.");
        return NetworkInterface.GetAllNetworkInterfaces()
            .Where(n => n.OperationalStatus == OperationalStatus.Up && n.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(n => n.GetIPProperties().UnicastAddresses)
            .Select(a => a.Address)
            .FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? IPAddress.Loopback;
    }

    private static int Port(IConfigurationSection section, string key, string variable, int fallback)
    {
        var text = section[key];
        if (text is null) return fallback;
        return int.TryParse(text, out var port) && port is > 0 and < 65536
            ? port
            : throw SettingsCheck.Invalid($"{variable} must be a port number (1-65535), not '{text}'.");
    }
}
