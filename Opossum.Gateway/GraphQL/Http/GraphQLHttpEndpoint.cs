using System.Buffers;
using System.Diagnostics;
using System.Text.Json;
using GraphQL;
using GraphQL.Execution;
using GraphQL.Transport;
using GraphQLParser;
using GraphQLParser.AST;
using GraphQLParser.Exceptions;
using Opossum.Gateway.GraphQL.Types;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>
/// GraphQL over HTTP (https://graphql.github.io/graphql-over-http/): POST with JSON and GET with
/// query parameters, content negotiation, mutations refused over GET, and the spec's status codes.
/// </summary>
public sealed class GraphQLHttpEndpoint(
    IDocumentExecuter<OpossumSchema> executer,
    GraphQLResponseSerializer serializer,
    GraphQLErrorMapper errors,
    DocumentCache documents)
{
    public static readonly ActivitySource Source = new("GraphQL");

    private readonly Func<UnhandledExceptionContext, Task> _mapError = errors.MapAsync;

    public async Task HandleAsync(HttpContext context)
    {
        var responseType = MediaTypes.Negotiate(context.Request.Headers.Accept.ToString());
        if (responseType is null)
        {
            await WriteRequestErrorAsync(context, MediaTypes.Json, StatusCodes.Status406NotAcceptable,
                $"Accept must allow {MediaTypes.GraphQLResponse} or {MediaTypes.Json}.");
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

        var cached = documents.TryGet(request.Query!, out var document);
        if (!cached)
            document = TryParse(request.Query!);
        var operation = document is null ? null : FindOperation(document, request.OperationName);
        if (isGet && operation?.Operation is OperationType.Mutation or OperationType.Subscription)
        {
            context.Response.Headers.Allow = "POST";
            await WriteRequestErrorAsync(context, responseType, StatusCodes.Status405MethodNotAllowed, "Mutations are only accepted over POST.");
            return;
        }

        await ExecuteAsync(context, responseType, request, document, operation, cached);
    }

    private async Task ExecuteAsync(HttpContext context, string responseType, GraphQLRequest request, GraphQLDocument? document,
        GraphQLOperationDefinition? operation, bool cached)
    {
        var operationType = operation?.Operation switch
        {
            OperationType.Query => "query",
            OperationType.Mutation => "mutation",
            OperationType.Subscription => "subscription",
            _ => null,
        };
        var operationName = operation?.Name?.StringValue ?? request.OperationName;
        using var activity = Source.StartActivity(operationName is null ? operationType ?? "GraphQL Operation" : $"{operationType} {operationName}");
        activity?.SetTag("graphql.operation.type", operationType);
        activity?.SetTag("graphql.operation.name", operationName);

        var traceId = TraceIds.Current();
        var options = new ExecutionOptions
        {
            Query = request.Query,
            Document = document,
            OperationName = request.OperationName,
            Variables = request.Variables,
            Extensions = request.Extensions,
            RequestServices = context.RequestServices,
            UserContext = new GraphQLRequestContext(traceId),
            CancellationToken = context.RequestAborted,
            UnhandledExceptionDelegate = _mapError,
        };
        if (cached)
            options.ValidationRules = options.CachedDocumentValidationRules ?? [];
        var result = await executer.ExecuteAsync(options);
        // Executed means the document parsed and validated: worth keeping.
        if (!cached && result.Executed && document is not null)
            documents.Add(request.Query!, document);

        if (result.Errors is { Count: > 0 })
        {
            activity?.SetStatus(ActivityStatusCode.Error, result.Errors[0].Message);
            foreach (var error in result.Errors)
                (error.Extensions ??= new Dictionary<string, object?>())["traceId"] = traceId;
        }

        // graphql-response+json: request errors (nothing executed) are 400; application/json: 200 for any well-formed request.
        var status = !result.Executed && responseType == MediaTypes.GraphQLResponse
            ? StatusCodes.Status400BadRequest
            : StatusCodes.Status200OK;
        await WriteAsync(context, responseType, status, result);
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

        return await RequestBodies.ReadWholeAsync(http.BodyReader, this, static (endpoint, json) => endpoint.ParseBody(json), http.HttpContext.RequestAborted);
    }

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

            string? query = null, operationName = null, problem = null;
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

    private async Task WriteRequestErrorAsync(HttpContext context, string responseType, int status, string message)
    {
        var error = new ExecutionError(message) { Code = Opossum.Grains.ErrorCodes.BadRequest };
        error.Extensions = new Dictionary<string, object?> { ["traceId"] = TraceIds.Current() };
        await WriteAsync(context, responseType, status, new ExecutionResult(error));
    }
}
