using GraphQL;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>What the endpoint hands to resolvers through GraphQL.NET's user context: the request's trace id.</summary>
public static class GraphQLRequestContext
{
    private const string TraceIdKey = "traceId";

    public static Dictionary<string, object?> For(string traceId) => new() { [TraceIdKey] = traceId };

    public static string TraceIdOf(IResolveFieldContext context) =>
        context.UserContext.TryGetValue(TraceIdKey, out var traceId) && traceId is string id ? id : "";
}
