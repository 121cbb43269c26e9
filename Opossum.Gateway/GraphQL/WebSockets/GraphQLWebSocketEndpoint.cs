using Microsoft.Extensions.Options;
using Opossum.Gateway.GraphQL.Http;
using Opossum.Gateway.Protection;

namespace Opossum.Gateway.GraphQL.WebSockets;

/// <summary>
/// GraphQL over WebSocket with the graphql-transport-ws protocol (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md):
/// accepts the socket and counts each client's; <see cref="GraphQLWebSocketConnection"/> runs a socket's life and
/// <see cref="GraphQLWebSocketMessages"/> reads and writes the protocol's messages. This server's own close codes are
/// for a client over its limits (<see cref="TooManyConnections"/>, <see cref="TooManyOperations"/>).
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
        var connection = new GraphQLWebSocketConnection(this, executor, serializer, keys, _limits, logger, socket, context, caller);
        if (!acceptable)
        {
            await connection.CloseAsync(GraphQLWebSocketMessages.CloseCodes.SubprotocolNotAcceptable, "Subprotocol not acceptable");
            return;
        }
        await connection.RunAsync();
    }

    /// <summary>Counts a socket against its client; false when the client already has as many as it may.</summary>
    internal bool TryOpen(Caller caller)
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

    internal void Closed(Caller caller)
    {
        lock (_open)
        {
            if (_open.TryGetValue(caller.Name, out var open) && open > 1) _open[caller.Name] = open - 1;
            else _open.Remove(caller.Name);
        }
    }
}
