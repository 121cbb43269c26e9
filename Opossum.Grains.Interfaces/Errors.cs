namespace Opossum.Grains;

/// <summary>Error codes a client sees in <c>extensions.code</c>.</summary>
public static class ErrorCodes
{
    public const string BadUserInput = "BAD_USER_INPUT";
    public const string ModelNotFound = "MODEL_NOT_FOUND";
    public const string BackendUnavailable = "BACKEND_UNAVAILABLE";
    public const string ConversationNotFound = "CONVERSATION_NOT_FOUND";
    public const string StorageUnavailable = "STORAGE_UNAVAILABLE";
    /// <summary>Every model that answered wrote JSON or tool arguments that do not match the caller's strict schema (HTTP 502).</summary>
    public const string InvalidModelOutput = "INVALID_MODEL_OUTPUT";
    /// <summary>The request is not a GraphQL request the server can read (HTTP 400).</summary>
    public const string BadRequest = "BAD_REQUEST";
    /// <summary>The client went away (or cancelled) before the answer.</summary>
    public const string Cancelled = "CANCELLED";
    /// <summary>OpenTelemetry is switched off, so what was asked for is not kept.</summary>
    public const string TelemetryDisabled = "TELEMETRY_DISABLED";
    /// <summary>No API key, or one the server does not know (HTTP 401).</summary>
    public const string Unauthenticated = "UNAUTHENTICATED";
    /// <summary>An operator action without an admin key.</summary>
    public const string Forbidden = "FORBIDDEN";
    /// <summary>Over the key's chats per minute or tokens per day (HTTP 429 with Retry-After).</summary>
    public const string RateLimited = "RATE_LIMITED";
    /// <summary>The document is deeper or costs more than the server runs (refused before it runs).</summary>
    public const string QueryTooComplex = "QUERY_TOO_COMPLEX";
    public const string Internal = "INTERNAL_SERVER_ERROR";
}

/// <summary>A failure with a client-facing code; crosses grain boundaries intact.</summary>
[GenerateSerializer]
public sealed class OpossumException : Exception
{
    public OpossumException(string code, string message, bool serviceFault = false, TimeSpan? retryAfter = null, string? param = null) : base(message)
    {
        Code = code;
        ServiceFault = serviceFault;
        RetryAfter = retryAfter;
        Param = param;
    }

    public OpossumException(string code, string message, Exception inner, bool serviceFault = false) : base(message, inner)
    {
        Code = code;
        ServiceFault = serviceFault;
    }

    [Id(0)]
    public string Code { get; }

    /// <summary>True when the backend service itself failed (unreachable, 5xx, timeout); such failures count towards opening its circuit.</summary>
    [Id(1)]
    public bool ServiceFault { get; }

    /// <summary>The backend asked not to be sent traffic for this long (HTTP 429 with Retry-After); not a fault of the service.</summary>
    [Id(2)]
    public TimeSpan? RetryAfter { get; }

    /// <summary>The request parameter that is wrong, as the door that read it names it (<c>top_p</c>, <c>options.num_predict</c>); null when none is.</summary>
    [Id(3)]
    public string? Param { get; }

    public static OpossumException BadInput(string message, string? param = null) => new(ErrorCodes.BadUserInput, message, param: param);

    public static OpossumException ModelNotFound(string model) =>
        new(ErrorCodes.ModelNotFound, $"Model '{model}' is not configured.");

    public static OpossumException StorageUnavailable(string what) =>
        new(ErrorCodes.StorageUnavailable, $"Storage (Redis) is not reachable, so {what}; nothing was recorded. Try again once it is back.");

    /// <summary>The conversation does not exist for this caller: never started, ended, or another key's (the same answer for each).</summary>
    public static OpossumException ConversationNotFound(string? id = null) =>
        new(ErrorCodes.ConversationNotFound, $"Conversation {(id is null ? "" : $"'{id}' ")}does not exist (it was never started or has ended). Omit conversationId to start a new one.");
}
