using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;

namespace Opossum.Tests.Streaming;

/// <summary>What graphql-transport-ws asks of a server when a client breaks its rules, seen by a plain WebSocket client.</summary>
public sealed class WebSocketProtocolTests(StreamingFixture fixture) : IClassFixture<StreamingFixture>
{
    private async Task<ClientWebSocket> ConnectAsync(string? protocol = "graphql-transport-ws")
    {
        var socket = new ClientWebSocket();
        if (protocol is not null)
            socket.Options.AddSubProtocol(protocol);
        var url = new UriBuilder(fixture.GraphQL) { Scheme = "ws" }.Uri;
        await socket.ConnectAsync(url, CancellationToken.None);
        return socket;
    }

    private static Task SendAsync(ClientWebSocket socket, string json) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, true, CancellationToken.None);

    // The next message, or null when the server closed the socket.
    internal static async Task<JsonNode?> ReceiveAsync(ClientWebSocket socket, TimeSpan? within = null)
    {
        using var timeout = new CancellationTokenSource(within ?? TimeSpan.FromSeconds(10));
        var buffer = new byte[64 * 1024];
        var text = new StringBuilder();
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer, timeout.Token);
            if (received.MessageType == WebSocketMessageType.Close) return null;
            text.Append(Encoding.UTF8.GetString(buffer, 0, received.Count));
            if (received.EndOfMessage) return JsonNode.Parse(text.ToString());
        }
    }

    private static async Task<int?> ClosedWithAsync(ClientWebSocket socket)
    {
        while (await ReceiveAsync(socket) is not null) { }
        return (int?)socket.CloseStatus;
    }

    [Fact]
    public async Task A_client_that_never_sends_connection_init_is_closed_with_4408()
    {
        using var socket = await ConnectAsync();
        Assert.Equal("graphql-transport-ws", socket.SubProtocol);
        Assert.Equal(4408, await ClosedWithAsync(socket));
    }

    [Fact]
    public async Task Subscribing_before_the_ack_is_closed_with_4401()
    {
        using var socket = await ConnectAsync();
        await SendAsync(socket, """{"id":"1","type":"subscribe","payload":{"query":"{ cacheStats { hits } }"}}""");
        Assert.Equal(4401, await ClosedWithAsync(socket));
    }

    [Fact]
    public async Task A_second_connection_init_is_closed_with_4429()
    {
        using var socket = await ConnectAsync();
        await SendAsync(socket, """{"type":"connection_init"}""");
        Assert.Equal("connection_ack", (await ReceiveAsync(socket))!["type"]!.GetValue<string>());
        await SendAsync(socket, """{"type":"connection_init"}""");
        Assert.Equal(4429, await ClosedWithAsync(socket));
    }

    [Fact]
    public async Task Ping_is_answered_with_pong_and_a_query_with_next_then_complete()
    {
        using var socket = await ConnectAsync();
        await SendAsync(socket, """{"type":"connection_init","payload":{}}""");
        Assert.Equal("connection_ack", (await ReceiveAsync(socket))!["type"]!.GetValue<string>());
        await SendAsync(socket, """{"type":"ping"}""");
        Assert.Equal("pong", (await ReceiveAsync(socket))!["type"]!.GetValue<string>());

        await SendAsync(socket, """{"id":"q1","type":"subscribe","payload":{"query":"{ models { name } }"}}""");
        var next = (await ReceiveAsync(socket))!;
        Assert.Equal("next", next["type"]!.GetValue<string>());
        Assert.Equal("q1", next["id"]!.GetValue<string>());
        Assert.NotEmpty(next["payload"]!["data"]!["models"]!.AsArray());
        var complete = (await ReceiveAsync(socket))!;
        Assert.Equal("complete", complete["type"]!.GetValue<string>());
        Assert.Equal("q1", complete["id"]!.GetValue<string>());
    }

    [Fact]
    public async Task An_id_that_is_already_running_is_closed_with_4409()
    {
        using var socket = await ConnectAsync();
        await SendAsync(socket, """{"type":"connection_init"}""");
        await ReceiveAsync(socket);
        var query = $"subscription {{ chatStream(input: {{message: \"slow {Guid.NewGuid():N} a b c d e f g\", model: \"gemma3:1b\"}}) {{ delta }} }}";
        var subscribe = System.Text.Json.JsonSerializer.Serialize(new { id = "same", type = "subscribe", payload = new { query } });
        await SendAsync(socket, subscribe);
        await SendAsync(socket, subscribe);
        Assert.Equal(4409, await ClosedWithAsync(socket));
    }

    [Fact]
    public async Task A_message_that_is_not_json_is_closed_with_4400_and_no_subprotocol_with_4406()
    {
        using (var socket = await ConnectAsync())
        {
            await SendAsync(socket, "hello");
            Assert.Equal(4400, await ClosedWithAsync(socket));
        }
        using (var socket = await ConnectAsync(protocol: null))
            Assert.Equal(4406, await ClosedWithAsync(socket));
    }

    [Fact]
    public async Task A_subscription_over_plain_json_is_refused_with_406()
    {
        var result = await fixture.Gateway.PostAsync("subscription { chatStream(input: {message: \"hi\"}) { delta } }");

        Assert.Equal(406, result.Status);
        Assert.Equal("BAD_REQUEST", result.ErrorCode);
        Assert.Contains("text/event-stream", result.ErrorMessage);
    }
}
