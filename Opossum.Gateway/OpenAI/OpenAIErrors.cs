using System.Globalization;
using Opossum.Gateway.Chat;
using Opossum.Grains;

namespace Opossum.Gateway.OpenAI;

/// <summary>
/// The one place where the door's failures become OpenAI's error object (<c>{"error": {"message", "type", "param", "code"}}</c>)
/// and its HTTP status; the message is in words for users, never an exception's internals.
/// </summary>
public sealed class OpenAIErrors(ChatFailures failures)
{
    /// <summary>The status and error of <paramref name="exception"/>, and how long to wait before trying again when it says.</summary>
    public (int Status, ErrorDetail Error, TimeSpan? RetryAfter) Map(Exception exception)
    {
        var known = failures.Classify(exception, "a chat completion");
        return (ChatHeaders.StatusOf(known.Code), Detail(known.Code, known.Message, known.Param), known.RetryAfter);
    }

    /// <summary>The error object for a failure with an Opossum code, in OpenAI's types and codes.</summary>
    public static ErrorDetail Detail(string code, string message, string? param = null) => code switch
    {
        ErrorCodes.BadUserInput or ErrorCodes.BadRequest => new(message, "invalid_request_error", param, null),
        ErrorCodes.Unauthenticated => new(message, "authentication_error", null, "invalid_api_key"),
        ErrorCodes.Forbidden => new(message, "permission_error", null, null),
        ErrorCodes.ModelNotFound => new(message, "invalid_request_error", param ?? "model", "model_not_found"),
        ErrorCodes.RateLimited => new(message, "rate_limit_error", null, "rate_limit_exceeded"),
        ErrorCodes.BackendUnavailable or ErrorCodes.StorageUnavailable => new(message, "server_error", null, "service_unavailable"),
        ErrorCodes.InvalidModelOutput => new(message, "server_error", param, "invalid_model_output"),
        _ => new(message, "server_error", null, null),
    };

    /// <summary>Writes <paramref name="error"/> as the whole response, with <c>Retry-After</c> when given.</summary>
    public static Task WriteAsync(HttpContext context, int status, ErrorDetail error, TimeSpan? retryAfter = null)
    {
        var response = context.Response;
        response.StatusCode = status;
        if (retryAfter is { } wait)
            response.Headers.RetryAfter = Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
        return response.WriteAsJsonAsync(new ErrorResponse(error), OpenAIJsonContext.Default.ErrorResponse, contentType: null, context.RequestAborted);
    }

    public Task WriteAsync(HttpContext context, Exception exception)
    {
        var (status, error, retryAfter) = Map(exception);
        return WriteAsync(context, status, error, retryAfter);
    }
}
