namespace Opossum.ServiceDefaults.Configuration;

/// <summary>
/// What Opossum knows beyond its options classes (whose keys <see cref="SettingsCheck"/> reads from their
/// properties), so that a misspelt or removed key under a section Opossum owns stops start-up instead of being ignored.
/// </summary>
public static class KnownSettings
{
    /// <summary>Sections nothing but Opossum reads: every key under them must be a setting.</summary>
    public static readonly IReadOnlyList<string> OwnedSections = ["Opossum", "Backends", "Models", "Telemetry"];

    /// <summary>
    /// Keys code reads by name (<c>configuration["…"]</c>) rather than through an options class: add a setting
    /// here when code reads it so. A <c>*</c> segment stands for any index or dictionary key.
    /// </summary>
    public static readonly IReadOnlyList<string> ReadByName =
    [
        "Opossum:DefaultModel",
        "Opossum:Clustering",
        "Opossum:RedisConnection",
        "Opossum:RedisStateFormat",
        "Opossum:ServiceId",
        "Opossum:ClusterId",
        "Opossum:SiloPort",
        "Opossum:GatewayPort",
        "Opossum:AdvertisedIp",
        "Opossum:ApiKeys",
        "Opossum:AdminKeys",
        "Opossum:TraceUrl",
        "Opossum:CorsOrigins",
        "Telemetry:Enabled",
        "Telemetry:ServiceName",
        "Telemetry:OtlpEndpoint",
        "Telemetry:Environment",
    ];

    /// <summary>
    /// Sections of the gateway's own options classes. A silo accepts them unread: docker-compose.yml gives the
    /// gateway and the silos one environment, so a key either process knows must start both.
    /// </summary>
    public static readonly IReadOnlyList<string> GatewaySections = ["Opossum:Limits"];
}
