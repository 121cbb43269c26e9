using Opossum.ServiceDefaults.Configuration;

namespace Opossum.Gateway.Web;

/// <summary>What the page is configured with: <c>OPOSSUM_TRACE_URL</c>, a trace viewer's URL with <c>{traceId}</c> in it.</summary>
public sealed class WebPageOptions
{
    public const string TraceUrlSetting = "Opossum:TraceUrl";

    public string TraceUrl { get; set; } = "";

    /// <summary>What makes these settings unusable, one sentence each; none when they are fine.</summary>
    public IEnumerable<string> Problems()
    {
        if (TraceUrl.Length > 0 && (!TraceUrl.Contains("{traceId}", StringComparison.Ordinal)
                                   || !Uri.TryCreate(TraceUrl.Replace("{traceId}", "0", StringComparison.Ordinal), UriKind.Absolute, out var uri)
                                   || uri.Scheme is not ("http" or "https")))
            yield return $"{OpossumEnvironment.SettingName(TraceUrlSetting)} must be an http(s) URL with {{traceId}} in it, e.g. http://localhost:16686/trace/{{traceId}}, not '{TraceUrl}'.";
    }
}
