using GraphQL;
using GraphQL.Transport;
using GraphQLParser.AST;
using Microsoft.Extensions.Options;
using Opossum.Gateway.GraphQL.WebSockets;
using Opossum.Gateway.Protection;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>
/// GraphQL over HTTP (https://graphql.github.io/graphql-over-http/): POST with JSON and GET with
/// query parameters, content negotiation, mutations refused over GET, and the spec's status codes.
/// A subscription's results stream as server-sent events (graphql-sse, distinct connections mode) when the client accepts
/// <c>text/event-stream</c>, another operation's only when that is the type it prefers; a WebSocket upgrade is handed to
/// <see cref="GraphQLWebSocketEndpoint"/>.
/// </summary>
public sealed class GraphQLHttpEndpoint(GraphQLExecutor executor, GraphQLResponseSerializer serializer, DocumentCache documents,
    GraphQLWebSocketEndpoint webSockets, ApiKeys keys, Types.OpossumSchema schema, IOptions<LimitsOptions> limits)
{
    private readonly LimitsOptions _limits = limits.Value;
    private readonly GraphQLRequestReader _requests = new(serializer, documents, limits.Value);

    private readonly Lazy<byte[]> _sdl = new(() =>
    {
        schema.Initialize();
        return System.Text.Encoding.UTF8.GetBytes(schema.Print(new global::GraphQL.Utilities.PrintOptions { IncludeDescriptions = true, IncludeDeprecationReasons = true }));
    });

    public async Task HandleAsync(HttpContext context)
    {
        var caller = keys.Authenticate(context, out var refusal);
        var presented = context.Request.Headers.Authorization.Count > 0;
        if (context.WebSockets.IsWebSocketRequest && (caller is not null || !presented))
        {
            // Without a key in the upgrade request, the client may give it in connection_init's payload.
            await webSockets.HandleAsync(context, presented ? caller : null);
            return;
        }
        if (caller is null)
        {
            await WriteUnauthenticatedAsync(context, refusal!);
            return;
        }
        if (HttpMethods.IsGet(context.Request.Method) && context.Request.Query.ContainsKey("sdl"))
        {
            // The schema as SDL, for client code generators (as HotChocolate answers GET /graphql?sdl).
            context.Response.ContentType = "text/plain; charset=utf-8";
            context.Response.ContentLength = _sdl.Value.Length;
            await context.Response.Body.WriteAsync(_sdl.Value, context.RequestAborted);
            return;
        }

        var acceptable = MediaTypes.Negotiate(context.Request.Headers.Accept.ToString());
        // Problems with the request itself are answered as JSON, even to a client that asks for a stream (graphql-sse asks for the GraphQL-over-HTTP answers).
        var responseType = acceptable.Json ?? MediaTypes.Json;
        if (acceptable.None)
        {
            await WriteRequestErrorAsync(context, MediaTypes.Json, StatusCodes.Status406NotAcceptable,
                $"Accept must allow {MediaTypes.GraphQLResponse}, {MediaTypes.Json} or {MediaTypes.EventStream}.");
            return;
        }

        var isGet = HttpMethods.IsGet(context.Request.Method);
        if (!isGet && !HttpMethods.IsPost(context.Request.Method))
        {
            context.Response.Headers.Allow = "GET, POST";
            await WriteRequestErrorAsync(context, responseType, StatusCodes.Status405MethodNotAllowed, "GraphQL requests use GET or POST.");
            return;
        }

        var (request, problem, status) = isGet ? _requests.ReadGet(context.Request) : await _requests.ReadPostAsync(context.Request);
        if (request is null)
        {
            await WriteRequestErrorAsync(context, responseType, status, problem!);
            return;
        }
        if (GraphQLRequestReader.QueryTooLong(request.Query!.Length, _limits) is { } tooLong)
        {
            await WriteRequestErrorAsync(context, responseType, StatusCodes.Status400BadRequest, tooLong);
            return;
        }

        var operation = executor.Prepare(request);
        if (isGet && operation.Type is OperationType.Mutation)
        {
            context.Response.Headers.Allow = "POST";
            await WriteRequestErrorAsync(context, responseType, StatusCodes.Status405MethodNotAllowed, "Mutations are only accepted over POST.");
            return;
        }
        if (acceptable.Streams(operation.Type))
        {
            await StreamAsync(context, operation, caller);
            return;
        }
        if (operation.Type is OperationType.Subscription)
        {
            await WriteRequestErrorAsync(context, responseType, StatusCodes.Status406NotAcceptable,
                $"A subscription streams its results: ask for {MediaTypes.EventStream} (graphql-sse) or open a WebSocket with the graphql-transport-ws protocol.");
            return;
        }
        using var activity = GraphQLExecutor.StartActivity(operation);
        var result = await executor.ExecuteAsync(operation, TraceIds.Current(), caller, context.RequestServices, context.RequestAborted);
        // graphql-response+json: request errors (nothing executed) are 400; application/json: 200 for any well-formed request.
        // A chat over its client's limits makes it 429, with when to try again.
        var ok = result.Executed || responseType != MediaTypes.GraphQLResponse;
        var code = RetryAfter(result) is { } retryAfter ? TooManyRequests(context, retryAfter) : ok ? StatusCodes.Status200OK : StatusCodes.Status400BadRequest;
        await WriteAsync(context, responseType, code, result);
    }

    /// <summary>The longest wait a RATE_LIMITED error of <paramref name="result"/> asks for, or null when it has none.</summary>
    private static int? RetryAfter(ExecutionResult result)
    {
        int? longest = null;
        foreach (var error in result.Errors ?? [])
        {
            if (error.Code == Opossum.Grains.ErrorCodes.RateLimited && error.Extensions?.GetValueOrDefault(GraphQLErrorMapper.RetryAfter) is int seconds)
                longest = Math.Max(longest ?? 0, seconds);
        }
        return longest;
    }

    private static int TooManyRequests(HttpContext context, int retryAfter)
    {
        context.Response.Headers.RetryAfter = retryAfter.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return StatusCodes.Status429TooManyRequests;
    }

    /// <summary>401 with the Bearer challenge (RFC 6750) and a GraphQL error UNAUTHENTICATED.</summary>
    private async Task WriteUnauthenticatedAsync(HttpContext context, string message)
    {
        ClientLimiter.Refuse(null, "unauthenticated");
        context.Response.Headers.WWWAuthenticate = ApiKeys.Challenge;
        var responseType = MediaTypes.Negotiate(context.Request.Headers.Accept.ToString()).Json ?? MediaTypes.Json;
        var error = new ExecutionError(message) { Code = Opossum.Grains.ErrorCodes.Unauthenticated };
        error.Extensions = new Dictionary<string, object?> { ["traceId"] = TraceIds.Current() };
        await WriteAsync(context, responseType, StatusCodes.Status401Unauthorized, new ExecutionResult(error));
    }

    /// <summary>
    /// graphql-sse, distinct connections mode: <c>next</c> events with the results (errors before execution
    /// included), then one <c>complete</c>. A client that closes the connection stops the operation.
    /// </summary>
    private async Task StreamAsync(HttpContext context, GraphQLOperation operation, Caller caller)
    {
        var response = context.Response;
        var aborted = context.RequestAborted;
        using var activity = GraphQLExecutor.StartActivity(operation);
        var traceId = TraceIds.Current();
        ExecutionResult result;
        try
        {
            result = await executor.ExecuteAsync(operation, traceId, caller, context.RequestServices, aborted);
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            return; // the client went away before the stream started
        }
        if (result.Streams is not { Count: > 0 } && RetryAfter(result) is { } retryAfter)
        {
            // Refused by a limit before it started: the stream is not opened, the answer is GraphQL over HTTP's.
            await WriteAsync(context, MediaTypes.Json, TooManyRequests(context, retryAfter), result);
            return;
        }

        response.StatusCode = StatusCodes.Status200OK;
        response.ContentType = MediaTypes.EventStreamUtf8;
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no"; // proxies such as nginx pass each event on at once
        context.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpResponseBodyFeature>()?.DisableBuffering();
        await using var events = new EventStreamWriter(response, serializer);
        try
        {
            await events.StartAsync(aborted);
            await foreach (var (next, _) in GraphQLExecutor.ResultsAsync(result, operation.Type is OperationType.Subscription, traceId, aborted))
                await events.WriteAsync("next", next, aborted);
            await events.WriteAsync("complete", null, aborted);
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException && aborted.IsCancellationRequested)
        {
            // The client closed the stream: nothing is left to tell it.
        }
    }

    private async Task WriteAsync(HttpContext context, string responseType, int status, ExecutionResult result)
    {
        using var body = new PooledBufferWriter(1024);
        serializer.Write(body, result);
        context.Response.StatusCode = status;
        context.Response.ContentType = MediaTypes.WithCharset(responseType);
        context.Response.ContentLength = body.WrittenCount;
        await context.Response.Body.WriteAsync(body.WrittenMemory, context.RequestAborted);
    }

    private async Task WriteRequestErrorAsync(HttpContext context, string responseType, int status, string message)
    {
        var error = new ExecutionError(message) { Code = Opossum.Grains.ErrorCodes.BadRequest };
        error.Extensions = new Dictionary<string, object?> { ["traceId"] = TraceIds.Current() };
        await WriteAsync(context, responseType, status, new ExecutionResult(error));
    }
}
