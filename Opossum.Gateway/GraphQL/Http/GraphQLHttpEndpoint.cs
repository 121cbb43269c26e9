using System.Buffers;
using System.Text.Json;
using GraphQL;
using GraphQL.Transport;
using GraphQLParser.AST;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;
using Opossum.Gateway.Protection;
using Opossum.ServiceDefaults.Configuration;

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

        var (request, problem, status) = isGet ? ReadGet(context.Request) : await ReadPostAsync(context.Request);
        if (request is null)
        {
            await WriteRequestErrorAsync(context, responseType, status, problem!);
            return;
        }
        if (QueryTooLong(request.Query!.Length, _limits) is { } tooLong)
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

    private (GraphQLRequest? Request, string? Problem, int Status) ReadGet(HttpRequest http)
    {
        var query = http.Query["query"].ToString();
        if (string.IsNullOrWhiteSpace(query))
            return (null, "The 'query' parameter is required.", StatusCodes.Status400BadRequest);
        Inputs? variables = null;
        if (http.Query["variables"].ToString() is { Length: > 0 } text)
        {
            try
            {
                using var parsed = JsonDocument.Parse(text);
                if (parsed.RootElement.ValueKind != JsonValueKind.Object)
                    return (null, "The 'variables' parameter must be a JSON object.", StatusCodes.Status400BadRequest);
                variables = serializer.ReadNode<Inputs>(parsed.RootElement);
            }
            catch (JsonException ex)
            {
                return (null, $"The 'variables' parameter is not valid JSON: {ex.Message}", StatusCodes.Status400BadRequest);
            }
        }
        var operationName = http.Query["operationName"].ToString();
        return (new GraphQLRequest { Query = query, Variables = variables, OperationName = operationName.Length > 0 ? operationName : null }, null, 0);
    }

    private async Task<(GraphQLRequest? Request, string? Problem, int Status)> ReadPostAsync(HttpRequest http)
    {
        if (!MediaTypes.IsJsonRequest(http.ContentType))
            return (null, $"Content-Type must be {MediaTypes.Json} (UTF-8).", StatusCodes.Status415UnsupportedMediaType);

        // A body over the limit is refused by its declared length, or, sent without one, as soon as that much has arrived;
        // Kestrel then reads no more of it either.
        if (http.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
            size.MaxRequestBodySize = _limits.MaxRequestBytes;
        if (http.ContentLength > _limits.MaxRequestBytes)
            return (null, BodyTooLarge(), StatusCodes.Status413PayloadTooLarge);
        try
        {
            return await RequestBodies.ReadWholeAsync(http.BodyReader, this, static (endpoint, json) => endpoint.ParseBody(json), http.HttpContext.RequestAborted);
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, BodyTooLarge(), StatusCodes.Status413PayloadTooLarge);
        }
    }

    private string BodyTooLarge() =>
        $"The request body is larger than {_limits.MaxRequestBytes} bytes ({OpossumEnvironment.SettingName(LimitsOptions.Section + ":MaxRequestBytes")}).";

    /// <summary>Why a query text of <paramref name="length"/> characters (null: too long to count) is refused before it is parsed, or null when it is not.</summary>
    public static string? QueryTooLong(int? length, LimitsOptions limits) =>
        length is null || length > limits.MaxQueryLength
            ? $"The query is {(length is null ? "too long" : $"{length} characters long")}; the limit is {limits.MaxQueryLength} ({OpossumEnvironment.SettingName(LimitsOptions.Section + ":MaxQueryLength")})."
            : null;

    // A character takes at most 6 bytes of JSON (\uXXXX).
    private const int MaxJsonBytesPerChar = 6;

    private static long JsonBytes(ref Utf8JsonReader reader) => reader.HasValueSequence ? reader.ValueSequence.Length : reader.ValueSpan.Length;

    private enum RequestField { Other, Query, OperationName, Variables, Extensions }

    /// <summary>
    /// Reads a POST body in one pass: the request's fields, its variables straight into GraphQL.NET's
    /// inputs. Invalid JSON anywhere wins over a wrong shape, as the whole body is read either way.
    /// Kept over a JsonDocument parse: with the other plain replacements that cost a cached chat measurably more.
    /// </summary>
    private (GraphQLRequest? Request, string? Problem, int Status) ParseBody(ReadOnlySequence<byte> json)
    {
        const string WrongTypes = "'operationName' must be a string, 'variables' and 'extensions' JSON objects (or null).";
        var reader = new Utf8JsonReader(json);
        try
        {
            reader.Read();
            if (reader.TokenType != JsonTokenType.StartObject)
            {
                reader.Skip();
                reader.Read(); // anything after the value is invalid JSON
                return (null, "The request body must be a JSON object.", StatusCodes.Status400BadRequest);
            }

            string? query = null, operationName = null, problem = null, tooLong = null;
            Inputs? variables = null, extensions = null;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var field = reader.ValueTextEquals("query"u8) ? RequestField.Query
                    : reader.ValueTextEquals("operationName"u8) ? RequestField.OperationName
                    : reader.ValueTextEquals("variables"u8) ? RequestField.Variables
                    : reader.ValueTextEquals("extensions"u8) ? RequestField.Extensions
                    : RequestField.Other;
                reader.Read();
                var isNull = reader.TokenType == JsonTokenType.Null;
                switch (field)
                {
                    case RequestField.Query when reader.TokenType == JsonTokenType.String && JsonBytes(ref reader) > (long)_limits.MaxQueryLength * MaxJsonBytesPerChar:
                        // Longer than any query within the limit can be written: refused without unescaping it (which would take a buffer as large).
                        tooLong = QueryTooLong(null, _limits);
                        break;
                    case RequestField.Query:
                        query = reader.TokenType == JsonTokenType.String ? documents.ReadQuery(ref reader) : null;
                        break;
                    case RequestField.OperationName when reader.TokenType == JsonTokenType.String || isNull:
                        operationName = reader.GetString();
                        break;
                    case RequestField.Variables or RequestField.Extensions when reader.TokenType == JsonTokenType.StartObject || isNull:
                        var inputs = isNull ? null : serializer.ReadInputs(ref reader);
                        if (field == RequestField.Variables) variables = inputs;
                        else extensions = inputs;
                        break;
                    case RequestField.Other:
                        break;
                    default:
                        problem ??= WrongTypes;
                        break;
                }
                reader.Skip();
            }
            reader.Read(); // anything after the object is invalid JSON

            if (tooLong is not null)
                return (null, tooLong, StatusCodes.Status400BadRequest);
            if (string.IsNullOrWhiteSpace(query))
                return (null, "The request body must have a non-empty string 'query'.", StatusCodes.Status400BadRequest);
            if (problem is not null)
                return (null, problem, StatusCodes.Status400BadRequest);
            return (new GraphQLRequest { Query = query, OperationName = operationName, Variables = variables, Extensions = extensions }, null, 0);
        }
        // Every read above checks the token first, so an InvalidOperationException is a string that is not UTF-8,
        // which the reader reports that way (inside variables, System.Text.Json turns it into a JsonException itself).
        catch (Exception ex) when (ex is JsonException or InvalidOperationException)
        {
            return (null, $"The request body is not valid JSON: {ex.Message}", StatusCodes.Status400BadRequest);
        }
    }

    private async Task WriteRequestErrorAsync(HttpContext context, string responseType, int status, string message)
    {
        var error = new ExecutionError(message) { Code = Opossum.Grains.ErrorCodes.BadRequest };
        error.Extensions = new Dictionary<string, object?> { ["traceId"] = TraceIds.Current() };
        await WriteAsync(context, responseType, status, new ExecutionResult(error));
    }
}
