using Microsoft.Net.Http.Headers;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>Content negotiation of the GraphQL-over-HTTP specification.</summary>
public static class MediaTypes
{
    public const string GraphQLResponse = "application/graphql-response+json";
    public const string Json = "application/json";

    /// <summary>
    /// The response media type for an Accept header, or null when the client accepts neither.
    /// No Accept header means application/json (spec); a wildcard gets the spec's own type.
    /// </summary>
    public static string? Negotiate(string? accept)
    {
        if (string.IsNullOrWhiteSpace(accept))
            return Json;
        if (!MediaTypeHeaderValue.TryParseList(accept.Split(','), out var types))
            return GraphQLResponse;
        foreach (var type in types.Where(t => (t.Quality ?? 1) > 0).OrderByDescending(t => t.Quality ?? 1))
        {
            var mediaType = type.MediaType.Value;
            if (Is(mediaType, GraphQLResponse) || Is(mediaType, "*/*") || Is(mediaType, "application/*"))
                return GraphQLResponse;
            if (Is(mediaType, Json))
                return Json;
        }
        return null;
    }

    /// <summary>True for <c>application/json</c> with no charset or UTF-8.</summary>
    public static bool IsJsonRequest(string? contentType)
    {
        if (contentType is null || !MediaTypeHeaderValue.TryParse(contentType, out var parsed))
            return false;
        return Is(parsed.MediaType.Value, Json)
            && (parsed.Charset.Value is null || parsed.Charset.Value.Equals("utf-8", StringComparison.OrdinalIgnoreCase));
    }

    private static bool Is(string? actual, string expected) => string.Equals(actual, expected, StringComparison.OrdinalIgnoreCase);
}
