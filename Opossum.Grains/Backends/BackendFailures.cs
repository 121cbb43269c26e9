namespace Opossum.Grains.Backends;

/// <summary>Turns transport and protocol failures into BACKEND_UNAVAILABLE errors with a reason an operator can act on.</summary>
public static class BackendFailures
{
    private const int MaxReasonLength = 300;

    /// <summary>A failure of the service itself (unreachable, 5xx, timeout): counts towards opening its circuit.</summary>
    public static OpossumException Unavailable(string service, string reason, Exception? inner = null) =>
        inner is null
            ? new(ErrorCodes.BackendUnavailable, $"Backend '{service}' failed: {reason}", serviceFault: true)
            : new(ErrorCodes.BackendUnavailable, $"Backend '{service}' failed: {reason}", inner, serviceFault: true);

    /// <summary>The service stopped answering in the middle of a streamed answer: a failure of the service.</summary>
    public static OpossumException Cut(string service, string reason) =>
        new(ErrorCodes.BackendUnavailable, $"Backend '{service}' failed: the answer was cut ({reason})", serviceFault: true);

    /// <summary>A stream of chunks that ended without the last one, which carries the whole answer.</summary>
    public static OpossumException Unfinished() =>
        new(ErrorCodes.BackendUnavailable, "The answer was cut: its stream ended without the last chunk.", serviceFault: true);

    /// <summary>The service answered but refused or could not serve this request (4xx, blocked prompt, empty answer).</summary>
    public static OpossumException Refused(string service, string reason) =>
        new(ErrorCodes.BackendUnavailable, $"Backend '{service}' failed: {reason}", serviceFault: false);

    /// <summary>Whether an HTTP status says the service (not the request) is at fault. A 429 is neither: see <see cref="Throttled"/>.</summary>
    public static bool IsServiceFault(int status) => status >= 500 || status is 408;

    public static OpossumException ForStatus(string service, int status, string reason, TimeSpan? retryAfter = null) =>
        status == 429 ? Throttled(service, reason, retryAfter)
        : IsServiceFault(status) ? Unavailable(service, reason) : Refused(service, reason);

    /// <summary>How long a 429 without a hint keeps traffic away from the server.</summary>
    public static readonly TimeSpan DefaultRetryAfter = TimeSpan.FromSeconds(1);

    /// <summary>The server is rate-limiting (HTTP 429): no traffic until <paramref name="retryAfter"/> has passed; not a broken service.</summary>
    public static OpossumException Throttled(string service, string reason, TimeSpan? retryAfter)
    {
        var wait = retryAfter is { } given && given > TimeSpan.Zero ? given : DefaultRetryAfter;
        return new(ErrorCodes.BackendUnavailable, $"Backend '{service}' is rate-limiting: {reason} (retry after {wait.TotalSeconds:0.#} s)",
            serviceFault: false, retryAfter: wait);
    }

    /// <summary>The <c>Retry-After</c> header of a response: seconds or an HTTP date.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage response, TimeProvider? time = null)
    {
        if (response.Headers.RetryAfter is not { } header) return null;
        if (header.Delta is { } delta) return delta;
        if (header.Date is { } date) return date - (time ?? TimeProvider.System).GetUtcNow();
        return null;
    }

    /// <summary>The reason for an exception thrown while calling a backend; never includes request headers (keys).</summary>
    public static string Describe(Exception ex, Uri baseUrl, TimeSpan timeout, CancellationToken caller) => ex switch
    {
        OperationCanceledException when caller.IsCancellationRequested => "the request was cancelled by the client",
        OperationCanceledException => $"no answer within {timeout.TotalSeconds:0.#} s",
        HttpRequestException http => $"unreachable at {baseUrl}: {Truncate(Innermost(http))}",
        System.Text.Json.JsonException => "the answer was not valid JSON",
        _ => Truncate(ex.Message),
    };

    public static string Innermost(Exception ex) => ex.InnerException is { } inner ? Innermost(inner) : ex.Message;

    public static string Truncate(string text) => text.Length <= MaxReasonLength ? text : text[..MaxReasonLength] + "…";
}

/// <summary>URLs under a backend's base URL, keeping any path prefix (a proxy's) the operator configured.</summary>
public static class BackendUrls
{
    public static Uri Combine(Uri baseUrl, string path) => new(baseUrl.ToString().TrimEnd('/') + "/" + path.TrimStart('/'));
}
