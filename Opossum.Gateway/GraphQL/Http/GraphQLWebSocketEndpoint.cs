using System.Buffers;
using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using GraphQL;
using GraphQL.Transport;
using GraphQLParser.AST;
using Microsoft.Extensions.Options;
using Opossum.Gateway.Protection;
using static Opossum.Gateway.Protection.LimitsOptions;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>
/// GraphQL over WebSocket with the graphql-transport-ws protocol (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md):
/// <c>connection_init</c> within <see cref="InitTimeout"/>, then any number of operations at once, each
/// with its own id and its own trace; the protocol's close codes for a client that breaks its rules, and this
/// server's own for one over its limits (<see cref="TooManyConnections"/>, <see cref="TooManyOperations"/>).
/// </summary>
public sealed class GraphQLWebSocketEndpoint(GraphQLExecutor executor, GraphQLResponseSerializer serializer, ApiKeys keys,
    IOptions<LimitsOptions> limits, ILogger<GraphQLWebSocketEndpoint> logger)
{
    /// <summary>Close code: the client already has <see cref="LimitsOptions.WebSocketsPerClient"/> sockets open on this gateway.</summary>
    public const int TooManyConnections = 4430;

    /// <summary>Close code: a <c>subscribe</c> beyond <see cref="LimitsOptions.OperationsPerWebSocket"/> running on this socket.</summary>
    public const int TooManyOperations = 4431;

    private readonly LimitsOptions _limits = limits.Value;
    // Initialised sockets per client name on this gateway.
    private readonly Dictionary<string, int> _open = [];

    public const string Protocol = "graphql-transport-ws";

    /// <summary>How long a client has after connecting to send <c>connection_init</c> (graphql-ws's default).</summary>
    public static readonly TimeSpan InitTimeout = TimeSpan.FromSeconds(3);

    /// <param name="caller">Who the upgrade request's key says is calling; null when it carried none and the server needs one,
    /// to be given in <c>connection_init</c>'s payload (<c>{"Authorization": "Bearer …"}</c>).</param>
    public async Task HandleAsync(HttpContext context, Caller? caller)
    {
        var acceptable = context.WebSockets.WebSocketRequestedProtocols.Contains(Protocol);
        using var socket = await context.WebSockets.AcceptWebSocketAsync(acceptable ? Protocol : null);
        var connection = new Connection(this, executor, serializer, keys, _limits, logger, socket, context, caller);
        if (!acceptable)
        {
            await connection.CloseAsync(4406, "Subprotocol not acceptable");
            return;
        }
        await connection.RunAsync();
    }

    private bool TryOpen(Caller caller)
    {
        lock (_open)
        {
            var open = _open.GetValueOrDefault(caller.Name);
            if (open >= _limits.WebSocketsPerClient)
                return false;
            _open[caller.Name] = open + 1;
            return true;
        }
    }

    private void Closed(Caller caller)
    {
        lock (_open)
        {
            if (_open.TryGetValue(caller.Name, out var open) && open > 1) _open[caller.Name] = open - 1;
            else _open.Remove(caller.Name);
        }
    }

    private sealed class Connection(GraphQLWebSocketEndpoint endpoint, GraphQLExecutor executor, GraphQLResponseSerializer serializer, ApiKeys keys,
        LimitsOptions limits, ILogger logger, WebSocket socket, HttpContext context, Caller? caller)
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
        // Counted against the client's sockets once connection_init named the client.
        private bool _counted;

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
                if (_counted)
                    endpoint.Closed(caller!);
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

        private async Task HandleAsync(JsonElement message)
        {
            var type = message.TryGetProperty("type", out var t) && t.ValueKind == JsonValueKind.String ? t.GetString() : null;
            switch (type)
            {
                case "connection_init":
                    if (_initialised)
                    {
                        await CloseAsync(4429, "Too many initialisation requests");
                        return;
                    }
                    _initialised = true;
                    caller ??= keys.Authenticate(KeyIn(message), context.Connection.RemoteIpAddress, out _);
                    if (caller is null)
                    {
                        // graphql-transport-ws: a server that rejects connection_init closes with 4403.
                        ClientLimiter.Refuse(null, "unauthenticated");
                        await CloseAsync(4403, "Forbidden");
                        return;
                    }
                    if (!(_counted = endpoint.TryOpen(caller)))
                    {
                        ClientLimiter.Refuse(caller, "too_many_websockets");
                        await CloseAsync(TooManyConnections, $"Too many connections: {limits.WebSocketsPerClient} per client");
                        return;
                    }
                    await SendAsync("""{"type":"connection_ack"}"""u8.ToArray());
                    return;
                case "ping":
                    await SendAsync("""{"type":"pong"}"""u8.ToArray());
                    return;
                case "pong":
                    return;
                case "subscribe":
                    await SubscribeAsync(message);
                    return;
                case "complete":
                    if (Id(message) is { } completed)
                        Forget(completed, cancel: true);
                    return;
                default:
                    await CloseAsync(4400, type is null ? "Message has no type" : $"Unknown message type '{type}'");
                    return;
            }
        }

        private async Task SubscribeAsync(JsonElement message)
        {
            if (!_initialised) // graphql-transport-ws: no operation before connection_ack
            {
                await CloseAsync(4401, "Unauthorized");
                return;
            }
            if (Id(message) is not { Length: > 0 } id)
            {
                await CloseAsync(4400, "A subscribe message needs a non-empty string id");
                return;
            }
            if (ReadRequest(message) is not { } request)
            {
                await CloseAsync(4400, "A subscribe message needs a payload with a string query");
                return;
            }
            var operation = new CancellationTokenSource();
            var refusal = 0;
            lock (_operations)
            {
                if (_operations.ContainsKey(id))
                    refusal = 4409;
                else if (_operations.Count >= limits.OperationsPerWebSocket)
                    refusal = TooManyOperations;
                else
                    _operations.Add(id, operation);
            }
            if (refusal != 0)
            {
                operation.Dispose();
                if (refusal == TooManyOperations)
                    ClientLimiter.Refuse(caller, "too_many_operations");
                await CloseAsync(refusal, refusal == 4409 ? $"Subscriber for {id} already exists" : $"Too many operations: {limits.OperationsPerWebSocket} per connection");
                return;
            }
            var running = RunOperationAsync(id, request, operation);
            lock (_operations)
            {
                _running.RemoveAll(t => t.IsCompleted);
                _running.Add(running);
            }
        }

        private async Task RunOperationAsync(string id, GraphQLRequest request, CancellationTokenSource operation)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(operation.Token, _closed.Token);
            var token = stop.Token;
            try
            {
                if (GraphQLHttpEndpoint.QueryTooLong(request.Query!.Length, limits) is { } tooLong)
                {
                    var refused = new ExecutionError(tooLong) { Code = Grains.ErrorCodes.BadRequest, Extensions = new Dictionary<string, object?> { ["traceId"] = TraceIds.Current() } };
                    await SendAsync(Message("error", id, ErrorsOf(new ExecutionResult(refused))), token);
                    return;
                }
                var prepared = executor.Prepare(request);
                // Each operation is a trace of its own, linked to the socket's request.
                Activity.Current = null;
                using var activity = GraphQLExecutor.StartActivity(prepared, ActivityKind.Server,
                    _socketSpan == default ? null : [new ActivityLink(_socketSpan)]);
                var traceId = TraceIds.Current();
                var result = await executor.ExecuteAsync(prepared, traceId, caller!, context.RequestServices, token);
                await foreach (var (next, failed) in GraphQLExecutor.ResultsAsync(result, prepared.Type is OperationType.Subscription, traceId, token))
                {
                    if (failed)
                    {
                        await SendAsync(Message("error", id, ErrorsOf(next)), token);
                        return; // an error ends the operation: no complete follows
                    }
                    await SendAsync(Message("next", id, Serialize(serializer, next)), token);
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
                logger.LogError(ex, "WebSocket operation {Id} failed", id);
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
                // Before connection_init nobody is known: a client that has not said who it is gets a few KiB.
                if (message.WrittenCount > (_initialised ? limits.MaxRequestBytes : MaxInitMessageBytes))
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
                ? serializer.ReadNode<Inputs>(value)
                : null;

        // connection_init's payload may carry the key as a header would: {"Authorization": "Bearer <key>"} (any case).
        private static string? KeyIn(JsonElement message)
        {
            if (!message.TryGetProperty("payload", out var payload) || payload.ValueKind != JsonValueKind.Object) return null;
            foreach (var property in payload.EnumerateObject())
            {
                if (property.Name.Equals("authorization", StringComparison.OrdinalIgnoreCase) && property.Value.ValueKind == JsonValueKind.String)
                    return property.Value.GetString();
            }
            return null;
        }

        private static string? Id(JsonElement message) =>
            message.TryGetProperty("id", out var id) && id.ValueKind == JsonValueKind.String ? id.GetString() : null;

        // graphql-transport-ws's error payload is the list of GraphQL errors itself.
        private string ErrorsOf(ExecutionResult result) =>
            JsonNode.Parse(Serialize(serializer, result))!["errors"]?.ToJsonString() ?? "[]";

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
        public async Task CloseAsync(int code, string reason)
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
        }
    }

    private static string Serialize(GraphQLResponseSerializer serializer, ExecutionResult result)
    {
        using var body = new PooledBufferWriter(512);
        serializer.Write(body, result);
        return System.Text.Encoding.UTF8.GetString(body.WrittenMemory.Span);
    }
}
