using GraphQL;
using GraphQL.Execution;
using Opossum.Grains;
using Opossum.Gateway.Chat;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>The one place where failures become GraphQL errors with <c>extensions.code</c>.</summary>
public sealed class GraphQLErrorMapper(ChatFailures failures)
{
    /// <summary>The extension a RATE_LIMITED error carries: whole seconds until the limit resets.</summary>
    public const string RetryAfter = "retryAfter";

    public Task MapAsync(UnhandledExceptionContext context)
    {
        context.Exception = failures.Classify(context.OriginalException, context.FieldContext?.FieldDefinition.Name) switch
        {
            { Code: ErrorCodes.RateLimited, RetryAfter: { } wait } limited => new ExecutionError(limited.Message)
            {
                Code = limited.Code,
                Extensions = new Dictionary<string, object?> { [RetryAfter] = (int)Math.Ceiling(wait.TotalSeconds) },
            },
            var known => new ExecutionError(known.Message) { Code = known.Code },
        };
        return Task.CompletedTask;
    }
}
