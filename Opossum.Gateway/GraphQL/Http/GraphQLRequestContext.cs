using GraphQL;
using Opossum.Gateway.Protection;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>
/// What the endpoint hands to resolvers through GraphQL.NET's user context: the request's trace id and its
/// caller, as properties rather than entries, so a request allocates no dictionary storage for them (an empty
/// dictionary has none); anything else a resolver puts in goes into the dictionary as usual.
/// </summary>
// Kept: the plain entry, re-measured with the other plain replacements, cost a cached chat measurably more.
public sealed class GraphQLRequestContext(string traceId, Caller caller) : Dictionary<string, object?>
{
    public string TraceId { get; } = traceId;

    public Caller Caller { get; } = caller;

    public static string TraceIdOf(IResolveFieldContext context) => (context.UserContext as GraphQLRequestContext)?.TraceId ?? "";

    public static Caller CallerOf(IResolveFieldContext context) =>
        (context.UserContext as GraphQLRequestContext)?.Caller ?? throw new InvalidOperationException("A GraphQL request without its caller.");
}
