using Microsoft.Net.Http.Headers;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>Content negotiation of the GraphQL-over-HTTP specification.</summary>
public static class MediaTypes
{
    public const string GraphQLResponse = "application/graphql-response+json";
    public const string Json = "application/json";
    public const string EventStream = "text/event-stream";
    public const string EventStreamUtf8 = EventStream + "; charset=utf-8";

    /// <summary>True when the Accept header asks for <c>text/event-stream</c> (graphql-sse): the response streams.</summary>
    public static bool AcceptsEventStream(string? accept)
    {
        if (string.IsNullOrEmpty(accept) || !accept.Contains(EventStream, StringComparison.OrdinalIgnoreCase))
            return false;
        return MediaTypeHeaderValue.TryParseList(accept.Split(','), out var types)
            && types.Any(t => (t.Quality ?? 1) > 0 && Is(t.MediaType.AsSpan(), EventStream));
    }

    /// <summary>
    /// The response media type for an Accept header, or null when the client accepts neither.
    /// A client that does not name the spec's own type (no Accept header, or only a wildcard) gets
    /// application/json: the spec's choice for legacy clients, which expect 200 for request errors.
    /// </summary>
    public static string? Negotiate(string? accept)
    {
        if (string.IsNullOrWhiteSpace(accept))
            return Json;
        // Most clients send one of these alone: answered without parsing a list, which allocates on every request.
        if (accept.AsSpan().IndexOfAny(',', ';') < 0 && Known(accept.AsSpan().Trim()) is { } alone)
            return alone;
        if (!MediaTypeHeaderValue.TryParseList(accept.Split(','), out var types))
            return GraphQLResponse;
        foreach (var type in types.Where(t => (t.Quality ?? 1) > 0).OrderByDescending(t => t.Quality ?? 1))
        {
            if (Known(type.MediaType.AsSpan()) is { } known)
                return known;
        }
        return null;
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
