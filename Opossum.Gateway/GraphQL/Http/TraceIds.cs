using System.Diagnostics;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>The trace id a client is given for a request, also when tracing is switched off.</summary>
public static class TraceIds
{
    private const string Key = "opossum.traceId";

    public static string Current(HttpContext context)
    {
        if (context.Items.TryGetValue(Key, out var known) && known is string id)
            return id;
        // Without a listener no Activity exists; a fresh W3C id still lets client and logs agree on one value.
        id = Activity.Current?.TraceId.ToHexString() ?? ActivityTraceId.CreateRandom().ToHexString();
        context.Items[Key] = id;
        return id;
    }
}
