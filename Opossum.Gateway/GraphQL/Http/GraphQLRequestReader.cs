using System.Buffers;
using System.Text.Json;
using GraphQL;
using GraphQL.Transport;
using Opossum.Gateway.Protection;
using Opossum.ServiceDefaults.Configuration;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>
/// Reads a GraphQL-over-HTTP request (GET query parameters or a POST's JSON body) within its bounds: the body's
/// size and the query's length; what is wrong with one is said with the spec's status code.
/// </summary>
public sealed class GraphQLRequestReader(GraphQLResponseSerializer serializer, DocumentCache documents, LimitsOptions limits)
{
    private readonly LimitsOptions _limits = limits;

    /// <summary>A GET's request from its query parameters.</summary>
    public (GraphQLRequest? Request, string? Problem, int Status) ReadGet(HttpRequest http)
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

    /// <summary>A POST's request from its JSON body, refused as soon as the body is over the limit.</summary>
    public async Task<(GraphQLRequest? Request, string? Problem, int Status)> ReadPostAsync(HttpRequest http)
    {
        if (!MediaTypes.IsJsonRequest(http.ContentType))
            return (null, $"Content-Type must be {MediaTypes.Json} (UTF-8).", StatusCodes.Status415UnsupportedMediaType);

        // A body over the limit is refused by its declared length, or, sent without one, as soon as that much has arrived;
        // Kestrel then reads no more of it either.
        if (!RequestBodies.Cap(http, _limits.MaxRequestBytes))
            return (null, BodyTooLarge(), StatusCodes.Status413PayloadTooLarge);
        try
        {
            return await RequestBodies.ReadWholeAsync(http.BodyReader, this, static (reader, json) => reader.ParseBody(json), http.HttpContext.RequestAborted);
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
}
