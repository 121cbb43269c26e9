using Microsoft.Extensions.Configuration;

namespace Opossum.Grains.Hosting;

/// <summary>Cluster identity and ports (section <c>Opossum</c>, env <c>OPOSSUM_*</c>).</summary>
public sealed record ClusterSettings(string Clustering, string ServiceId, string ClusterId, int SiloPort, int GatewayPort)
{
    public const string Localhost = "localhost";
    public const string Redis = "redis";

    public static ClusterSettings From(IConfiguration configuration)
    {
        var section = configuration.GetSection("Opossum");
        var clustering = (section["Clustering"] ?? Localhost).Trim().ToLowerInvariant();
        if (clustering is not (Localhost or Redis))
            throw new InvalidOperationException($"OPOSSUM_CLUSTERING must be 'localhost' or 'redis', not '{clustering}'.");
        return new ClusterSettings(
            clustering,
            section["ServiceId"] is { Length: > 0 } service ? service : "opossum",
            section["ClusterId"] is { Length: > 0 } cluster ? cluster : "dev",
            Port(section, "SiloPort", "OPOSSUM_SILO_PORT", 11111),
            Port(section, "GatewayPort", "OPOSSUM_GATEWAY_PORT", 30000));
    }

    private static int Port(IConfigurationSection section, string key, string variable, int fallback)
    {
        var text = section[key];
        if (text is null) return fallback;
        return int.TryParse(text, out var port) && port is > 0 and < 65536
            ? port
            : throw new InvalidOperationException($"{variable} must be a port number (1-65535), not '{text}'.");
    }
}
