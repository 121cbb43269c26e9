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

    /// <summary>The service answered but refused or could not serve this request (4xx, blocked prompt, empty answer).</summary>
    public static OpossumException Refused(string service, string reason) =>
        new(ErrorCodes.BackendUnavailable, $"Backend '{service}' failed: {reason}", serviceFault: false);

    /// <summary>Whether an HTTP status says the service (not the request) is at fault.</summary>
    public static bool IsServiceFault(int status) => status >= 500 || status is 408 or 429;

    public static OpossumException ForStatus(string service, int status, string reason) =>
        IsServiceFault(status) ? Unavailable(service, reason) : Refused(service, reason);

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
