using System.Reflection;
using Microsoft.Extensions.Configuration;
using Opossum.ServiceDefaults.Configuration;

namespace Opossum.ServiceDefaults.Telemetry;

/// <summary>OpenTelemetry settings of a process (section <c>Telemetry</c>, env <c>OTEL_*</c> and <c>ENV</c>).</summary>
public sealed record TelemetrySettings(bool Enabled, string ServiceName, string Environment, Uri TracesEndpoint, Uri MetricsEndpoint, string ServiceVersion)
{
    public const string DefaultEndpoint = "http://localhost:4318/v1/traces";

    public static TelemetrySettings From(IConfiguration configuration)
    {
        var section = configuration.GetSection("Telemetry");
        var enabledText = section["Enabled"];
        if (enabledText is not null && !bool.TryParse(enabledText, out _))
            throw SettingsCheck.Invalid($"OTEL_ENABLED must be 'true' or 'false', not '{enabledText}'.");
        var endpointText = section["OtlpEndpoint"] is { Length: > 0 } e ? e : DefaultEndpoint;
        if (!Uri.TryCreate(endpointText, UriKind.Absolute, out var endpoint) || endpoint.Scheme is not ("http" or "https"))
            throw SettingsCheck.Invalid($"OTEL_EXPORTER_OTLP_ENDPOINT must be an absolute http(s) URL, not '{endpointText}'.");

        var (traces, metrics) = SignalEndpoints(endpoint);
        return new TelemetrySettings(
            Enabled: enabledText is null || bool.Parse(enabledText),
            ServiceName: section["ServiceName"] is { Length: > 0 } name ? name : "opossum-search",
            Environment: section["Environment"] is { Length: > 0 } env ? env : "development",
            TracesEndpoint: traces,
            MetricsEndpoint: metrics,
            ServiceVersion: InformationalVersion());
    }

    /// <summary>
    /// A URL ending in <c>/v1/traces</c> is the traces URL itself (the documented default); anything
    /// else is a base URL to which the signal paths are appended, as the OTLP specification says.
    /// </summary>
    public static (Uri Traces, Uri Metrics) SignalEndpoints(Uri endpoint)
    {
        var text = endpoint.GetLeftPart(UriPartial.Path).TrimEnd('/');
        var baseUrl = text.EndsWith("/v1/traces", StringComparison.OrdinalIgnoreCase) ? text[..^"/v1/traces".Length] : text;
        return (new Uri(baseUrl + "/v1/traces"), new Uri(baseUrl + "/v1/metrics"));
    }

    private static string InformationalVersion()
    {
        // Every Opossum assembly carries the same version (Directory.Build.props); the SDK appends "+<commit>" when it knows it.
        return typeof(TelemetrySettings).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
    }
}
