using GraphQL;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>Per-request values the endpoint hands to resolvers through the user context.</summary>
public static class GraphQLRequestContext
{
    private const string TraceIdKey = "opossum.traceId";

    public static Dictionary<string, object?> Create(string traceId) => new() { [TraceIdKey] = traceId };

    public static string TraceId(IResolveFieldContext context) =>
        context.UserContext.TryGetValue(TraceIdKey, out var id) && id is string s ? s : "";
}
