using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using GraphQL;
using GraphQL.Execution;
using GraphQL.Transport;
using GraphQLParser;
using GraphQLParser.AST;
using GraphQLParser.Exceptions;
using GraphQL.Validation.Errors.Custom;
using Opossum.Gateway.GraphQL.Types;
using Opossum.Gateway.Protection;
using Opossum.Grains.Telemetry;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>A request with its document (parsed once per query text) and the operation it asks for.</summary>
public sealed record GraphQLOperation(GraphQLRequest Request, GraphQLDocument? Document, GraphQLOperationDefinition? Definition, bool Cached)
{
    public OperationType? Type => Definition?.Operation;
}

/// <summary>
/// Executes GraphQL operations for every transport (HTTP, text/event-stream, WebSocket): the document cache,
/// the operation's span, trace ids on every error, and a subscription's results as they come.
/// </summary>
public sealed class GraphQLExecutor(IDocumentExecuter<OpossumSchema> executer, GraphQLErrorMapper errors, DocumentCache documents)
{
    /// <summary>Longest operation name a span carries; a longer one is cut.</summary>
    public const int MaxOperationNameChars = 64;

    private readonly Func<UnhandledExceptionContext, Task> _mapError = errors.MapAsync;

    public GraphQLOperation Prepare(GraphQLRequest request)
    {
        var cached = documents.TryGet(request.Query!, out var document);
        if (!cached)
            document = TryParse(request.Query!);
        return new GraphQLOperation(request, document, document is null ? null : FindOperation(document, request.OperationName), cached);
    }

    /// <summary>The operation's span, e.g. <c>mutation Chat</c>; <paramref name="links"/> for one that starts a trace of its own.</summary>
    public static Activity? StartActivity(GraphQLOperation operation, ActivityKind kind = ActivityKind.Internal, IEnumerable<ActivityLink>? links = null)
    {
        var type = operation.Type switch
        {
            OperationType.Query => "query",
            OperationType.Mutation => "mutation",
            OperationType.Subscription => "subscription",
            _ => null,
        };
        // The parsed operation's own name (never a requested name that names none), cut to a span name's length.
        var name = operation.Definition?.Name?.StringValue is { Length: > 0 } parsed
            ? (parsed.Length > MaxOperationNameChars ? parsed[..MaxOperationNameChars] + "…" : parsed)
            : null;
        var activity = OpossumTelemetry.GraphQL.StartActivity(name is null ? type ?? "GraphQL Operation" : $"{type} {name}", kind, parentContext: default, links: links);
        activity?.SetTag("graphql.operation.type", type);
        activity?.SetTag("graphql.operation.name", name);
        return activity;
    }

    /// <summary>Executes the operation; a subscription's result holds its stream (<see cref="ResultsAsync"/> reads it).</summary>
    public async Task<ExecutionResult> ExecuteAsync(GraphQLOperation operation, string traceId, Caller caller, IServiceProvider services,
        CancellationToken cancellationToken)
    {
        if (caller.Keyed)
            Activity.Current?.SetTag(OpossumTelemetry.Tags.ApiKeyName, caller.Name);
        var request = operation.Request;
        var options = new ExecutionOptions
        {
            Query = request.Query,
            Document = operation.Document,
            OperationName = request.OperationName,
            Variables = request.Variables,
            Extensions = request.Extensions,
            RequestServices = services,
            UserContext = new GraphQLRequestContext(traceId, caller),
            CancellationToken = cancellationToken,
            UnhandledExceptionDelegate = _mapError,
        };
        if (operation.Cached)
            options.ValidationRules = options.CachedDocumentValidationRules ?? [];
        var result = await executer.ExecuteAsync(options);
        // Executed means the document parsed and validated: worth keeping.
        if (!operation.Cached && result.Executed && operation.Document is not null)
            documents.Add(request.Query!, operation.Document);
        if (!result.Executed && result.Errors?.OfType<ComplexityError>().ToList() is { Count: > 0 } tooComplex)
        {
            // GraphQL.NET's own analysis refused it before it ran; the code says so in this API's terms.
            foreach (var error in tooComplex)
                error.Code = Grains.ErrorCodes.QueryTooComplex;
            ClientLimiter.Refuse(caller, "query_too_complex");
        }
        Mark(result, traceId);
        return result;
    }

    /// <summary>
    /// What a transport sends for an executed operation: its one result, or each result of a subscription's stream
    /// as it comes. <c>Failed</c>: the result ends the operation with errors (it did not execute, or its stream failed).
    /// </summary>
    public static async IAsyncEnumerable<(ExecutionResult Result, bool Failed)> ResultsAsync(ExecutionResult result, bool isSubscription, string traceId,
        [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var streams = result.Streams;
        if (!isSubscription || streams is not { Count: > 0 })
        {
            // A subscription without its stream failed before it started (bad input, an invalid document).
            yield return (result, !result.Executed || isSubscription);
            yield break;
        }
        var events = Channel.CreateUnbounded<(ExecutionResult, bool)>(new UnboundedChannelOptions { SingleReader = true });
        using var subscription = streams.Values.Single().Subscribe(new ChannelObserver(events.Writer, traceId));
        await foreach (var item in events.Reader.ReadAllAsync(cancellationToken))
            yield return item;
    }

    private static void Mark(ExecutionResult result, string traceId)
    {
        if (result.Errors is not { Count: > 0 }) return;
        Activity.Current?.SetStatus(ActivityStatusCode.Error, result.Errors[0].Message);
        foreach (var error in result.Errors)
            (error.Extensions ??= new Dictionary<string, object?>())["traceId"] = traceId;
    }

    // GraphQL.NET calls these one at a time and in order; the transport reads them at its pace.
    private sealed class ChannelObserver(ChannelWriter<(ExecutionResult, bool)> events, string traceId) : IObserver<ExecutionResult>
    {
        public void OnNext(ExecutionResult value)
        {
            Mark(value, traceId);
            events.TryWrite((value, false));
        }

        public void OnError(Exception error)
        {
            // The error mapper has made an ExecutionError with its code of any failure of the stream.
            var failure = new ExecutionResult(error as ExecutionError ?? new ExecutionError(error.Message) { Code = Grains.ErrorCodes.Internal });
            Mark(failure, traceId);
            events.TryWrite((failure, true));
            events.TryComplete();
        }

        public void OnCompleted() => events.TryComplete();
    }

    private static GraphQLDocument? TryParse(string query)
    {
        try
        {
            return Parser.Parse(query);
        }
        catch (GraphQLParserException)
        {
            return null; // the executer reports the syntax error in the spec's shape
        }
    }

    // The named operation, or the only one when none is named; null when there is no such one.
    private static GraphQLOperationDefinition? FindOperation(GraphQLDocument document, string? operationName)
    {
        GraphQLOperationDefinition? found = null;
        foreach (var definition in document.Definitions)
        {
            if (definition is not GraphQLOperationDefinition operation) continue;
            if (string.IsNullOrEmpty(operationName))
            {
                if (found is not null) return null; // several operations and no name: ambiguous
                found = operation;
            }
            else if (operation.Name?.StringValue == operationName)
                return operation;
        }
        return found;
    }
}
