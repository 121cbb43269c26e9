using GraphQL;
using GraphQL.Execution;
using Opossum.Grains;
using Opossum.Grains.Storage;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>The one place where failures become GraphQL errors with <c>extensions.code</c>.</summary>
public sealed class GraphQLErrorMapper(ILogger<GraphQLErrorMapper> logger)
{
    /// <summary>The extension a RATE_LIMITED error carries: whole seconds until the limit resets.</summary>
    public const string RetryAfter = "retryAfter";

    public Task MapAsync(UnhandledExceptionContext context)
    {
        context.Exception = (StorageFailures.Find(context.OriginalException) ?? context.OriginalException) switch
        {
            OpossumException { Code: ErrorCodes.RateLimited, RetryAfter: { } wait } limited => new ExecutionError(limited.Message)
            {
                Code = limited.Code,
                Extensions = new Dictionary<string, object?> { [RetryAfter] = (int)Math.Ceiling(wait.TotalSeconds) },
            },
            OpossumException known => new ExecutionError(known.Message) { Code = known.Code },
            TimeoutException => new ExecutionError("The cluster did not answer in time; try again.") { Code = ErrorCodes.BackendUnavailable },
            OrleansException orleans => Unavailable(orleans),
            OperationCanceledException => new ExecutionError("The request was cancelled.") { Code = ErrorCodes.Cancelled },
            var other => Internal(other, context.FieldContext?.FieldDefinition.Name),
        };
        return Task.CompletedTask;
    }

    private ExecutionError Unavailable(OrleansException ex)
    {
        logger.LogWarning(ex, "Cluster call failed");
        return new ExecutionError("The cluster is not reachable right now; try again.") { Code = ErrorCodes.BackendUnavailable };
    }

    private ExecutionError Internal(Exception ex, string? field)
    {
        logger.LogError(ex, "Unhandled error resolving {Field}", field);
        return new ExecutionError("Internal error; the server log has the details under this trace id.") { Code = ErrorCodes.Internal };
    }
}
