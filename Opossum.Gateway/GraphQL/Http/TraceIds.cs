using System.Diagnostics;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>The trace id a client is given for a request, also when tracing is switched off.</summary>
public static class TraceIds
{
    /// <summary>The current trace's id; the endpoint asks once per request and hands it on.</summary>
    public static string Current() =>
        // Without any Activity (nothing listening, no logging), a fresh W3C id still gives the client a well-formed value.
        Activity.Current?.TraceId.ToHexString() ?? ActivityTraceId.CreateRandom().ToHexString();
}
