using System.Diagnostics;
using System.Net.WebSockets;
using System.Text.Json;
using GraphQL;
using GraphQL.Transport;
using GraphQLParser.AST;
using Opossum.Gateway.GraphQL.Http;
using Opossum.Gateway.Protection;
using static Opossum.Gateway.GraphQL.WebSockets.GraphQLWebSocketMessages;
using static Opossum.Gateway.Protection.LimitsOptions;

namespace Opossum.Gateway.GraphQL.WebSockets;

/// <summary>
/// One socket's life: <c>connection_init</c> within <see cref="GraphQLWebSocketEndpoint.InitTimeout"/>, then its
/// operations, each run on its own until it ends, is completed by the client or the socket closes; one send at a time.
/// </summary>
internal sealed class GraphQLWebSocketConnection(GraphQLWebSocketEndpoint endpoint, GraphQLExecutor executor, GraphQLResponseSerializer serializer,
    ApiKeys keys, LimitsOptions limits, ILogger logger, WebSocket socket, HttpContext context, Caller? caller)
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
            await Task.Delay(GraphQLWebSocketEndpoint.InitTimeout, _closed.Token);
            // A receive is pending meanwhile; sending the close frame beside it is allowed, and it reads the client's answer.
            if (!_initialised)
                await CloseAsync(CloseCodes.InitTimeout, "Connection initialisation timeout");
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task HandleAsync(JsonElement message)
    {
        var type = TypeOf(message);
        switch (type)
        {
            case "connection_init":
                await InitialiseAsync(message);
                return;
            case "ping":
                await SendAsync(Pong);
                return;
            case "pong":
                return;
            case "subscribe":
                await SubscribeAsync(message);
                return;
            case "complete":
                if (IdOf(message) is { } completed)
                    Forget(completed, cancel: true);
                return;
            default:
                await CloseAsync(CloseCodes.BadRequest, type is null ? "Message has no type" : $"Unknown message type '{type}'");
                return;
        }
    }

    private async Task InitialiseAsync(JsonElement message)
    {
        if (_initialised)
        {
            await CloseAsync(CloseCodes.TooManyInitialisations, "Too many initialisation requests");
            return;
        }
        _initialised = true;
        caller ??= keys.Authenticate(KeyOf(message), context.Connection.RemoteIpAddress, out _);
        if (caller is null)
        {
            ClientLimiter.Refuse(null, "unauthenticated");
            await CloseAsync(CloseCodes.Forbidden, "Forbidden");
            return;
        }
        if (!(_counted = endpoint.TryOpen(caller)))
        {
            ClientLimiter.Refuse(caller, "too_many_websockets");
            await CloseAsync(GraphQLWebSocketEndpoint.TooManyConnections, $"Too many connections: {limits.WebSocketsPerClient} per client");
            return;
        }
        await SendAsync(ConnectionAck);
    }

    private async Task SubscribeAsync(JsonElement message)
    {
        if (!_initialised)
        {
            await CloseAsync(CloseCodes.Unauthorized, "Unauthorized");
            return;
        }
        if (IdOf(message) is not { Length: > 0 } id)
        {
            await CloseAsync(CloseCodes.BadRequest, "A subscribe message needs a non-empty string id");
            return;
        }
        if (RequestOf(message, serializer) is not { } request)
        {
            await CloseAsync(CloseCodes.BadRequest, "A subscribe message needs a payload with a string query");
            return;
        }
        var operation = new CancellationTokenSource();
        var refusal = 0;
        lock (_operations)
        {
            if (_operations.ContainsKey(id))
                refusal = CloseCodes.SubscriberExists;
            else if (_operations.Count >= limits.OperationsPerWebSocket)
                refusal = GraphQLWebSocketEndpoint.TooManyOperations;
            else
                _operations.Add(id, operation);
        }
        if (refusal != 0)
        {
            operation.Dispose();
            if (refusal == GraphQLWebSocketEndpoint.TooManyOperations)
                ClientLimiter.Refuse(caller, "too_many_operations");
            await CloseAsync(refusal, refusal == CloseCodes.SubscriberExists
                ? $"Subscriber for {id} already exists"
                : $"Too many operations: {limits.OperationsPerWebSocket} per connection");
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
            if (GraphQLRequestReader.QueryTooLong(request.Query!.Length, limits) is { } tooLong)
            {
                var refused = new ExecutionError(tooLong) { Code = Grains.ErrorCodes.BadRequest, Extensions = new Dictionary<string, object?> { ["traceId"] = TraceIds.Current() } };
                await SendAsync(Error(id, new ExecutionResult(refused), serializer), token);
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
                    await SendAsync(Error(id, next, serializer), token);
                    return; // an error ends the operation: no complete follows
                }
                await SendAsync(Next(id, next, serializer), token);
            }
            await SendAsync(Complete(id), token);
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
                await CloseAsync(CloseCodes.Normal, "Normal Closure");
                return null;
            }
            if (_closing) continue;
            message.Advance(received.Count);
            // Before connection_init nobody is known: a client that has not said who it is gets a few KiB.
            if (message.WrittenCount > (_initialised ? limits.MaxRequestBytes : MaxInitMessageBytes))
            {
                await CloseAsync(CloseCodes.MessageTooBig, "Message too big");
                return null;
            }
            if (!received.EndOfMessage) continue;
            if (received.MessageType != WebSocketMessageType.Text)
            {
                await CloseAsync(CloseCodes.BadRequest, "Messages are JSON text");
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
            await CloseAsync(CloseCodes.BadRequest, "Messages are JSON objects");
            return null;
        }
    }

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
