using System.Diagnostics;
using System.Globalization;
using Microsoft.Net.Http.Headers;
using Opossum.Grains;

namespace Opossum.Gateway.Chat;

/// <summary>
/// What every stateless door's response carries beside its protocol's body: the trace id (also on errors), whether the
/// answer was generated for this request, which backend and model answered, and a W3C <c>Server-Timing</c> header
/// (https://www.w3.org/TR/server-timing/) with the gateway's and the generation's durations.
/// </summary>
public static class ChatHeaders
{
    public const string TraceId = "x-opossum-trace-id";

    /// <summary><c>hit</c> (from the cache), <c>joined</c> (another request's generation in flight) or <c>miss</c> (generated for this request).</summary>
    public const string Cache = "x-opossum-cache";

    public const string Backend = "x-opossum-backend";

    public const string Model = "x-opossum-model";

    /// <summary>
    /// <c>Cache-Control: no-cache</c> (or <c>no-store</c>) on a request bypasses the response cache: as an HTTP cache
    /// does not answer it from what it stored, the answer is generated for it.
    /// </summary>
    public static bool BypassesCache(HttpRequest request)
    {
        foreach (var value in request.Headers.CacheControl)
        {
            if (value is not null && (value.Contains(CacheControlHeaderValue.NoCacheString, StringComparison.OrdinalIgnoreCase)
                                      || value.Contains(CacheControlHeaderValue.NoStoreString, StringComparison.OrdinalIgnoreCase)))
                return true;
        }
        return false;
    }

    /// <summary>
    /// The headers of an answer, written before its body: <paramref name="started"/> (a <see cref="Stopwatch"/> timestamp)
    /// is when the gateway began the request, <paramref name="generation"/> how long the model took (none for a cache hit).
    /// </summary>
    public static void Write(HttpResponse response, string backend, string model, bool cached, bool joined, long started, TimeSpan? generation)
    {
        var headers = response.Headers;
        headers[Cache] = !cached ? "miss" : joined ? "joined" : "hit";
        headers[Backend] = backend;
        headers[Model] = model;
        var timing = string.Create(CultureInfo.InvariantCulture, $"gateway;dur={Stopwatch.GetElapsedTime(started).TotalMilliseconds:0.0}");
        if (generation is { } took)
            timing += string.Create(CultureInfo.InvariantCulture, $", backend;dur={took.TotalMilliseconds:0.0}");
        headers["Server-Timing"] = timing;
    }

    /// <summary>The HTTP status a door answers a failure with, by its code.</summary>
    public static int StatusOf(string code) => code switch
    {
        ErrorCodes.BadUserInput or ErrorCodes.BadRequest => StatusCodes.Status400BadRequest,
        ErrorCodes.Unauthenticated => StatusCodes.Status401Unauthorized,
        ErrorCodes.Forbidden => StatusCodes.Status403Forbidden,
        ErrorCodes.ModelNotFound => StatusCodes.Status404NotFound,
        ErrorCodes.RateLimited => StatusCodes.Status429TooManyRequests,
        ErrorCodes.BackendUnavailable or ErrorCodes.StorageUnavailable => StatusCodes.Status503ServiceUnavailable,
        ErrorCodes.InvalidModelOutput => StatusCodes.Status502BadGateway, // a model answered, but not as the caller's schema says
        ErrorCodes.Cancelled => 499, // the client left; nobody reads it
        _ => StatusCodes.Status500InternalServerError,
    };
}
