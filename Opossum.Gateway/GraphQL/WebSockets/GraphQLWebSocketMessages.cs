using System.Text.Json;
using System.Text.Json.Nodes;
using GraphQL;
using GraphQL.Transport;
using Opossum.Gateway.GraphQL.Http;

namespace Opossum.Gateway.GraphQL.WebSockets;

/// <summary>
/// The graphql-transport-ws protocol's messages (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md):
/// what a client's message says, the messages this server sends, and the close codes for a client that breaks the rules.
/// </summary>
public static class GraphQLWebSocketMessages
{
    /// <summary>The protocol's close codes this server sends; its own are on <see cref="GraphQLWebSocketEndpoint"/>.</summary>
    public static class CloseCodes
    {
        public const int Normal = 1000;
        public const int MessageTooBig = 1009;
        public const int BadRequest = 4400;
        /// <summary>A <c>subscribe</c> before <c>connection_ack</c>.</summary>
        public const int Unauthorized = 4401;
        /// <summary><c>connection_init</c> refused: no key, or an unknown one.</summary>
        public const int Forbidden = 4403;
        public const int SubprotocolNotAcceptable = 4406;
        public const int InitTimeout = 4408;
        public const int SubscriberExists = 4409;
        public const int TooManyInitialisations = 4429;
    }

    public static readonly byte[] ConnectionAck = """{"type":"connection_ack"}"""u8.ToArray();
    public static readonly byte[] Pong = """{"type":"pong"}"""u8.ToArray();

    /// <summary>The message's <c>type</c>, or null when it has no string one.</summary>
    public static string? TypeOf(JsonElement message) =>
        message.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String ? type.GetString() : null;

    /// <summary>The message's <c>id</c>, or null when it has no string one.</summary>
    public static string? IdOf(JsonElement message) =>
        message.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;

    /// <summary>A <c>subscribe</c> message's request, or null when its payload has no non-empty string query.</summary>
    public static GraphQLRequest? RequestOf(JsonElement message, GraphQLResponseSerializer serializer)
    {
        if (!message.TryGetProperty("payload", out var payload) || payload.ValueKind != JsonValueKind.Object
            || !payload.TryGetProperty("query", out var query) || query.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(query.GetString()))
            return null;
        return new GraphQLRequest
        {
            Query = query.GetString(),
            OperationName = payload.TryGetProperty("operationName", out var name) && name.ValueKind == JsonValueKind.String ? name.GetString() : null,
            Variables = InputsOf(payload, "variables", serializer),
            Extensions = InputsOf(payload, "extensions", serializer),
        };
    }

    private static Inputs? InputsOf(JsonElement payload, string field, GraphQLResponseSerializer serializer) =>
        payload.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.Object
            ? serializer.ReadNode<Inputs>(value)
            : null;

    /// <summary>The key in <c>connection_init</c>'s payload, given as a header would be: <c>{"Authorization": "Bearer …"}</c> (any case).</summary>
    public static string? KeyOf(JsonElement message)
    {
        if (!message.TryGetProperty("payload", out var payload) || payload.ValueKind != JsonValueKind.Object) return null;
        foreach (var property in payload.EnumerateObject())
        {
            if (property.Name.Equals("authorization", StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind == JsonValueKind.String)
                return property.Value.GetString();
        }
        return null;
    }

    /// <summary>A <c>next</c> message with one result of the operation.</summary>
    public static byte[] Next(string id, ExecutionResult result, GraphQLResponseSerializer serializer) =>
        Message("next", id, Serialize(result, serializer));

    /// <summary>An <c>error</c> message: its payload is the list of GraphQL errors itself.</summary>
    public static byte[] Error(string id, ExecutionResult result, GraphQLResponseSerializer serializer) =>
        Message("error", id, JsonNode.Parse(Serialize(result, serializer))!["errors"]?.ToJsonString() ?? "[]");

    public static byte[] Complete(string id) => Message("complete", id, null);

    private static byte[] Message(string type, string id, string? payload) =>
        System.Text.Encoding.UTF8.GetBytes(payload is null
            ? $$"""{"id":{{JsonSerializer.Serialize(id)}},"type":"{{type}}"}"""
            : $$"""{"id":{{JsonSerializer.Serialize(id)}},"type":"{{type}}","payload":{{payload}}}""");

    private static string Serialize(ExecutionResult result, GraphQLResponseSerializer serializer)
    {
        using var body = new PooledBufferWriter(512);
        serializer.Write(body, result);
        return System.Text.Encoding.UTF8.GetString(body.WrittenMemory.Span);
    }
}
