using Microsoft.Extensions.Configuration;

namespace Opossum.ServiceDefaults.Configuration;

/// <summary>
/// The one place that maps the documented environment variables (docs/contracts.md) onto configuration
/// sections, so options bind from sections while operators set the short names.
/// </summary>
public static class OpossumEnvironment
{
    /// <summary>Documented variable -> configuration key.</summary>
    public static readonly IReadOnlyDictionary<string, string> Variables = new Dictionary<string, string>
    {
        ["OTEL_ENABLED"] = "Telemetry:Enabled",
        ["OTEL_SERVICE_NAME"] = "Telemetry:ServiceName",
        ["OTEL_EXPORTER_OTLP_ENDPOINT"] = "Telemetry:OtlpEndpoint",
        ["ENV"] = "Telemetry:Environment",
        ["OLLAMA_BASE_URL"] = "Backends:Ollama:BaseUrl",
        ["OLLAMA_PARALLELISM"] = "Backends:Ollama:Parallelism",
        ["GEMINI_API_KEY"] = "Backends:Gemini:ApiKey",
        ["GEMINI_BASE_URL"] = "Backends:Gemini:BaseUrl",
        ["OPOSSUM_DEFAULT_MODEL"] = "Opossum:DefaultModel",
        ["OPOSSUM_CLUSTERING"] = "Opossum:Clustering",
        ["REDIS_CONNECTION"] = "Opossum:RedisConnection",
        ["OPOSSUM_SERVICE_ID"] = "Opossum:ServiceId",
        ["OPOSSUM_CLUSTER_ID"] = "Opossum:ClusterId",
        ["OPOSSUM_SILO_PORT"] = "Opossum:SiloPort",
        ["OPOSSUM_GATEWAY_PORT"] = "Opossum:GatewayPort",
        ["OPOSSUM_ADVERTISED_IP"] = "Opossum:AdvertisedIp",
        ["OPOSSUM_API_KEYS"] = "Opossum:ApiKeys",
        ["OPOSSUM_ADMIN_KEYS"] = "Opossum:AdminKeys",
        ["OPOSSUM_TRACE_URL"] = "Opossum:TraceUrl",
        ["OPOSSUM_CORS_ORIGINS"] = "Opossum:CorsOrigins",
    };

    /// <summary>How an operator knows a configuration key: its documented variable and the key ("OTEL_ENABLED (Telemetry:Enabled)"), else the key.</summary>
    public static string SettingName(string key) =>
        Variables.FirstOrDefault(v => string.Equals(v.Value, key, StringComparison.OrdinalIgnoreCase)).Key is { } variable
            ? $"{variable} ({key})"
            : key;

    /// <summary>
    /// The model catalog shipped beside the binaries (<c>models.json</c>), read by the gateway and every silo alike.
    /// It is the lowest-priority source: appsettings, variables (<c>Models__0__Backend</c>) and arguments override it.
    /// </summary>
    public static IConfigurationManager AddOpossumModels(this IConfigurationManager configuration)
    {
        var source = new Microsoft.Extensions.Configuration.Json.JsonConfigurationSource { Path = ModelsFile, Optional = true };
        source.ResolveFileProvider();
        configuration.Sources.Insert(0, source);
        return configuration;
    }

    public const string ModelsFile = "models.json";

    /// <summary>Copies every documented variable that is set (in any configuration source) onto its section key.</summary>
    public static IConfigurationManager AddOpossumEnvironment(this IConfigurationManager configuration)
    {
        var mapped = new Dictionary<string, string?>();
        foreach (var (variable, key) in Variables)
        {
            if (configuration[variable] is { Length: > 0 } value)
                mapped[key] = value;
        }
        configuration.AddInMemoryCollection(mapped);
        return configuration;
    }
}
