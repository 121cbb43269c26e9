using System.Buffers;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using GraphQL;
using GraphQL.Transport;
using GraphQLParser.AST;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>
/// GraphQL over WebSocket with the graphql-transport-ws protocol (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md):
/// <c>connection_init</c> within <see cref="InitTimeout"/>, then any number of operations at once, each
/// with its own id and its own trace; the protocol's close codes for a client that breaks its rules.
/// </summary>
public sealed class GraphQLWebSocketEndpoint(GraphQLExecutor executor, GraphQLResponseSerializer serializer, ILogger<GraphQLWebSocketEndpoint> logger)
{
    private GraphQLExecutor Executor => executor;
    private GraphQLResponseSerializer Serializer => serializer;
    private ILogger Logger => logger;

    public const string Protocol = "graphql-transport-ws";

    /// <summary>How long a client has after connecting to send <c>connection_init</c> (graphql-ws's default).</summary>
    public static readonly TimeSpan InitTimeout = TimeSpan.FromSeconds(3);

    /// <summary>Largest message accepted: a chat with the largest image, base64-encoded, fits.</summary>
    public const int MaxMessageBytes = 8 * 1024 * 1024;

    public async Task HandleAsync(HttpContext context)
    {
        var acceptable = context.WebSockets.WebSocketRequestedProtocols.Contains(Protocol);
        using var socket = await context.WebSockets.AcceptWebSocketAsync(acceptable ? Protocol : null);
        var connection = new Connection(this, socket, context);
        if (!acceptable)
        {
            await connection.CloseAsync(4406, "Subprotocol not acceptable");
            return;
        }
        await connection.RunAsync();
    }

    private sealed class Connection(GraphQLWebSocketEndpoint endpoint, WebSocket socket, HttpContext context)
    {
        private readonly SemaphoreSlim _sending = new(1, 1);
        private readonly Dictionary<string, CancellationTokenSource> _operations = [];
        private readonly List<Task> _running = [];
        private readonly CancellationTokenSource _closed = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        // Once the server has sent its close frame, the client has this long to answer with its own.
        private readonly CancellationTokenSource _closeAnswered = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
        private bool _closing;
        private readonly ActivityContext _socketSpan = Activity.Current?.Context ?? default;
        private bool _initialised;
        private bool _acknowledged;

        public async Task RunAsync()
        {
            _ = CloseUnlessInitialisedAsync();
            try
            {
                // After a close frame is sent, reading goes on until the client's answers it: a clean close.
                while (await ReceiveAsync() is { } message)
                {
                    if (!_closing)
                        await HandleAsync(message);
                }
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException)
            {
                // The client went away.
            }
            finally
            {
                _closed.Cancel();
                Task[] running;
                lock (_operations)
                {
                    foreach (var operation in _operations.Values)
                        operation.Cancel();
                    running = [.. _running];
                }
                // The request (and its services) lives until every operation has let go of it.
                await Task.WhenAll(running);
            }
        }

        private async Task CloseUnlessInitialisedAsync()
        {
            try
            {
                await Task.Delay(InitTimeout, _closed.Token);
                // A receive is pending meanwhile; sending the close frame beside it is allowed, and it reads the client's answer.
                if (!_initialised)
                    await CloseAsync(4408, "Connection initialisation timeout");
            }
            catch (OperationCanceledException)
            {
            }
        }

        // False once the socket is closed.
        private async Task<bool> HandleAsync(JsonElement message)
        {
            var type = message.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            switch (type)
            {
                case "connection_init":
                    if (_initialised)
                        return await CloseAsync(4429, "Too many initialisation requests");
                    _initialised = true;
                    _acknowledged = true;
                    await SendAsync("""{"type":"connection_ack"}"""u8.ToArray());
                    return true;
                case "ping":
                    await SendAsync("""{"type":"pong"}"""u8.ToArray());
                    return true;
                case "pong":
                    return true;
                case "subscribe":
                    return await SubscribeAsync(message);
                case "complete":
                    if (Id(message) is { } completed)
                        Forget(completed, cancel: true);
                    return true;
                default:
                    return await CloseAsync(4400, type is null ? "Message has no type" : $"Unknown message type '{type}'");
            }
        }

        private async Task<bool> SubscribeAsync(JsonElement message)
        {
            if (!_acknowledged)
                return await CloseAsync(4401, "Unauthorized");
            if (Id(message) is not { Length: > 0 } id)
                return await CloseAsync(4400, "A subscribe message needs a non-empty string id");
            if (ReadRequest(message) is not { } request)
                return await CloseAsync(4400, "A subscribe message needs a payload with a string query");
            var operation = new CancellationTokenSource();
            lock (_operations)
            {
                if (!_operations.TryAdd(id, operation))
                    operation = null;
            }
            if (operation is null)
                return await CloseAsync(4409, $"Subscriber for {id} already exists");
            var running = RunOperationAsync(id, request, operation);
            lock (_operations)
            {
                _running.RemoveAll(t => t.IsCompleted);
                _running.Add(running);
            }
            return true;
        }

        private async Task RunOperationAsync(string id, GraphQLRequest request, CancellationTokenSource operation)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(operation.Token, _closed.Token);
            var token = stop.Token;
            try
            {
                var prepared = endpoint.Executor.Prepare(request);
                // Each operation is a trace of its own, linked to the socket's request.
                Activity.Current = null;
                using var activity = GraphQLExecutor.StartActivity(prepared, ActivityKind.Server,
                    _socketSpan == default ? null : [new ActivityLink(_socketSpan)]);
                var traceId = TraceIds.Current();
                var result = await endpoint.Executor.ExecuteAsync(prepared, traceId, context.RequestServices, token);
                await foreach (var (next, failed) in GraphQLExecutor.ResultsAsync(result, prepared.Type is OperationType.Subscription, traceId, token))
                {
                    if (failed)
                    {
                        await SendAsync(Message("error", id, ErrorsOf(next)), token);
                        return; // an error ends the operation: no complete follows
                    }
                    await SendAsync(Message("next", id, endpoint.Serialize(next)), token);
                }
                await SendAsync(Message("complete", id, null), token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or WebSocketException && token.IsCancellationRequested)
            {
                // The client completed the operation or went away: nothing more is sent for it.
            }
            catch (Exception ex) when (ex is WebSocketException or ObjectDisposedException)
            {
                // The socket broke while sending.
            }
            catch (Exception ex)
            {
                endpoint.Logger.LogError(ex, "WebSocket operation {Id} failed", id);
            }
            finally
            {
                Forget(id, cancel: false, operation);
                operation.Dispose();
            }
        }

        private void Forget(string id, bool cancel, CancellationTokenSource? only = null)
        {
            lock (_operations)
            {
                if (!_operations.TryGetValue(id, out var operation) || (only is not null && operation != only)) return;
                _operations.Remove(id);
                if (cancel) operation.Cancel();
            }
        }

        private async Task<JsonElement?> ReceiveAsync()
        {
            using var message = new PooledBufferWriter(4096);
            while (true)
            {
                var buffer = message.GetMemory(4096);
                var received = await socket.ReceiveAsync(buffer, _closeAnswered.Token);
                if (received.MessageType == WebSocketMessageType.Close)
                {
                    await CloseAsync(1000, "Normal Closure");
                    return null;
                }
                if (_closing) continue;
                message.Advance(received.Count);
                if (message.WrittenCount > MaxMessageBytes)
                {
                    await CloseAsync(1009, "Message too big");
                    return null;
                }
                if (!received.EndOfMessage) continue;
                if (received.MessageType != WebSocketMessageType.Text)
                {
                    await CloseAsync(4400, "Messages are JSON text");
                    return null;
                }
                try
                {
                    using var document = JsonDocument.Parse(message.WrittenMemory);
                    if (document.RootElement.ValueKind == JsonValueKind.Object)
                        return document.RootElement.Clone();
                }
                catch (JsonException)
                {
                }
                await CloseAsync(4400, "Messages are JSON objects");
                return null;
            }
        }

        private GraphQLRequest? ReadRequest(JsonElement message)
        {
            if (!message.TryGetProperty("payload", out var payload) || payload.ValueKind != JsonValueKind.Object
                || !payload.TryGetProperty("query", out var query) || query.ValueKind != JsonValueKind.String || string.IsNullOrWhiteSpace(query.GetString()))
                return null;
            return new GraphQLRequest
            {
                Query = query.GetString(),
                OperationName = payload.TryGetProperty("operationName", out var name) && name.ValueKind == JsonValueKind.String ? name.GetString() : null,
                Variables = Inputs(payload, "variables"),
                Extensions = Inputs(payload, "extensions"),
            };
        }

        private Inputs? Inputs(JsonElement payload, string field) =>
            payload.TryGetProperty(field, out var value) && value.ValueKind == JsonValueKind.Object
                ? endpoint.Serializer.ReadNode<Inputs>(value)
                : null;

        private static string? Id(JsonElement message) =>
            message.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;

        // graphql-transport-ws's error payload is the list of GraphQL errors itself.
        private string ErrorsOf(ExecutionResult result) =>
            JsonNode.Parse(endpoint.Serialize(result))!["errors"]?.ToJsonString() ?? "[]";

        private static byte[] Message(string type, string id, string? payload) =>
            System.Text.Encoding.UTF8.GetBytes(payload is null
                ? $$"""{"id":{{JsonSerializer.Serialize(id)}},"type":"{{type}}"}"""
                : $$"""{"id":{{JsonSerializer.Serialize(id)}},"type":"{{type}}","payload":{{payload}}}""");

        private async Task SendAsync(byte[] message, CancellationToken cancellationToken = default)
        {
            await _sending.WaitAsync(cancellationToken);
            try
            {
                cancellationToken.ThrowIfCancellationRequested(); // a completed operation sends nothing more
                if (_closing || socket.State != WebSocketState.Open) return;
                // A client that takes no data for this long is dropped (a cancelled send aborts the socket).
                using var stuck = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                await socket.SendAsync(message, WebSocketMessageType.Text, endOfMessage: true, stuck.Token);
            }
            finally
            {
                _sending.Release();
            }
        }

        /// <summary>Closes the socket with one of the protocol's codes and stops every operation; what the client sends after it is not read.</summary>
        public async Task<bool> CloseAsync(int code, string reason)
        {
            await _sending.WaitAsync();
            try
            {
                if (socket.State is WebSocketState.Open or WebSocketState.CloseReceived)
                {
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                    await socket.CloseOutputAsync((WebSocketCloseStatus)code, reason, timeout.Token);
                }
            }
            catch (Exception ex) when (ex is WebSocketException or OperationCanceledException or ObjectDisposedException)
            {
            }
            finally
            {
                _closing = true;
                _sending.Release();
                _closed.Cancel(); // every operation stops
                _closeAnswered.CancelAfter(TimeSpan.FromSeconds(5));
            }
            return false;
        }
    }

    private string Serialize(ExecutionResult result)
    {
        using var body = new PooledBufferWriter(512);
        serializer.Write(body, result);
        return System.Text.Encoding.UTF8.GetString(body.WrittenMemory.Span);
    }
}
