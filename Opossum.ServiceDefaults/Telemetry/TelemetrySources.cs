namespace Opossum.ServiceDefaults.Telemetry;

/// <summary>
/// The name of every ActivitySource and Meter an Opossum process records to or listens to: Opossum's own
/// (created in <c>Opossum.Grains/Telemetry/OpossumTelemetry</c>) and Orleans'.
/// </summary>
public static class TelemetrySources
{
    /// <summary>Opossum's spans (<c>model.generate</c>, <c>cache.get</c>, backend calls) and its meter's instruments.</summary>
    public const string Opossum = "Opossum";

    /// <summary>The gateway's GraphQL operations, e.g. <c>mutation Chat</c>.</summary>
    public const string GraphQL = "GraphQL";

    /// <summary>Orleans' grain-call spans; it must stay registered for propagation (dotnet/orleans#9188).</summary>
    public const string OrleansApplication = "Microsoft.Orleans.Application";

    /// <summary>Orleans' own metrics.</summary>
    public const string OrleansMeter = "Microsoft.Orleans";

    /// <summary>Sources every Opossum process listens to. Orleans' runtime source (membership, directory) is left out.</summary>
    public static readonly string[] Traced = [Opossum, OrleansApplication, GraphQL];

    /// <summary>Meters every Opossum process collects, beside the ASP.NET Core, HttpClient and runtime instrumentation.</summary>
    public static readonly string[] Metered = [Opossum, OrleansMeter];
}
