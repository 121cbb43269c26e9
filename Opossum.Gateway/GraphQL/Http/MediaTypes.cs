using Microsoft.Net.Http.Headers;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>Content negotiation of the GraphQL-over-HTTP specification.</summary>
public static class MediaTypes
{
    public const string GraphQLResponse = "application/graphql-response+json";
    public const string Json = "application/json";
    public const string EventStream = "text/event-stream";
    public const string EventStreamUtf8 = EventStream + "; charset=utf-8";

    /// <summary>
    /// What an Accept header allows, read once per request: <see cref="Acceptable.Json"/>, the JSON type to answer in,
    /// and whether <c>text/event-stream</c> is acceptable at all and whether it is the client's first choice.
    /// A client that does not name the spec's own type (no Accept header, or only a wildcard) gets
    /// application/json: the spec's choice for legacy clients, which expect 200 for request errors.
    /// </summary>
    public static Acceptable Negotiate(string? accept)
    {
        if (string.IsNullOrWhiteSpace(accept))
            return new(Json, EventStream: false, PrefersEventStream: false);
        // Most clients send one type alone: answered without parsing a list, which allocates on every request.
        if (accept.AsSpan().IndexOfAny(',', ';') < 0)
        {
            var alone = accept.AsSpan().Trim();
            if (Is(alone, EventStream))
                return new(null, EventStream: true, PrefersEventStream: true);
            if (Known(alone) is { } known)
                return new(known, EventStream: false, PrefersEventStream: false);
        }
        if (!MediaTypeHeaderValue.TryParseList(accept.Split(','), out var types))
            return new(GraphQLResponse, EventStream: false, PrefersEventStream: false);
        string? json = null;
        bool eventStream = false, prefersEventStream = false;
        // The first acceptable type wins: highest quality first, then the client's order (a stable sort).
        foreach (var type in types.Where(t => (t.Quality ?? 1) > 0).OrderByDescending(t => t.Quality ?? 1))
        {
            if (Is(type.MediaType.AsSpan(), EventStream))
            {
                prefersEventStream |= json is null; // no JSON type came before it
                eventStream = true;
            }
            else
            {
                json ??= Known(type.MediaType.AsSpan());
            }
        }
        return new(json, eventStream, prefersEventStream);
    }

    /// <summary>The response type for one accepted media type, or null when it is neither ours nor a wildcard over them.</summary>
    private static string? Known(ReadOnlySpan<char> mediaType) =>
        Is(mediaType, GraphQLResponse) ? GraphQLResponse
        : Is(mediaType, Json) || Is(mediaType, "*/*") || Is(mediaType, "application/*") ? Json
        : null;

    /// <summary>The Content-Type header of a response of <paramref name="mediaType"/> (one of this class's two).</summary>
    public static string WithCharset(string mediaType) => mediaType == GraphQLResponse ? GraphQLResponseUtf8 : JsonUtf8;

    private const string GraphQLResponseUtf8 = GraphQLResponse + "; charset=utf-8";
    private const string JsonUtf8 = Json + "; charset=utf-8";

    /// <summary>True for <c>application/json</c> with no charset or UTF-8.</summary>
    public static bool IsJsonRequest(string? contentType)
    {
        // What nearly every client sends, without parsing it.
        if (Is(contentType, Json) || Is(contentType, JsonUtf8))
            return true;
        if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var parsed))
            return false;
        return Is(parsed.MediaType.Value, Json)
            && (parsed.Charset.Value is null || parsed.Charset.Value.Equals("utf-8", StringComparison.OrdinalIgnoreCase));
    }

    private static bool Is(string? actual, string expected) => string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase);

    private static bool Is(ReadOnlySpan<char> actual, string expected) => actual.Equals(expected, StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// What a client accepts: <paramref name="Json"/>, the JSON type it prefers (null when it accepts none), and
/// <c>text/event-stream</c>, which is for subscriptions, and for other operations only when it is the client's first choice.
/// </summary>
public readonly record struct Acceptable(string? Json, bool EventStream, bool PrefersEventStream)
{
    /// <summary>True when an operation of <paramref name="type"/> (null: a document that did not parse) streams its results.</summary>
    public bool Streams(GraphQLParser.AST.OperationType? type) =>
        type is GraphQLParser.AST.OperationType.Subscription ? EventStream : PrefersEventStream;

    /// <summary>Neither a JSON type nor an event stream is acceptable: the request is 406.</summary>
    public bool None => Json is null && !EventStream;
}
