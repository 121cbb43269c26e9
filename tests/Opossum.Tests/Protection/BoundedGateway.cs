using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text.Json.Nodes;
using Opossum.Gateway.GraphQL.Http;
using Opossum.Gateway.GraphQL.WebSockets;
using Opossum.Gateway.Protection;
using Opossum.Tests.Support;

namespace Opossum.Tests.Protection;

/// <summary>
/// A standalone gateway with client keys (alice, bob, carol), the default cost, body and query limits, 4 WebSockets per
/// key and 2 operations per WebSocket, and a model that takes images.
/// </summary>
public sealed class BoundedGateway : IAsyncLifetime, IAsyncDisposable
{
    public const string Alice = "alice-b0c1d2e3f4", Bob = "bob-a9b8c7d6e5", Carol = "carol-1f2e3d4c5b", Ops = "ops-7e6d5c4b3a";
    public const int WebSockets = 4, Operations = 2;

    public FakeOllama Ollama { get; private set; } = null!;
    public GatewayHost Gateway { get; private set; } = null!;
    public LimitsOptions Limits { get; } = new();

    public async Task InitializeAsync()
    {
        Ollama = await FakeOllama.StartAsync();
        Gateway = await GatewayHost.StartAsync(Ollama.BaseUrl, new Dictionary<string, string?>
        {
            ["OPOSSUM_API_KEYS"] = $"alice:{Alice},bob:{Bob},carol:{Carol}",
            ["OPOSSUM_ADMIN_KEYS"] = $"ops:{Ops}", // recent traces are for operators
            ["Opossum:Limits:WebSocketsPerClient"] = WebSockets.ToString(),
            ["Opossum:Limits:OperationsPerWebSocket"] = Operations.ToString(),
            ["Models:1:Name"] = "llava",
            ["Models:1:Backend"] = "ollama",
            ["Models:1:SupportsImages"] = "true",
        });
    }

    public async Task DisposeAsync()
    {
        await Gateway.DisposeAsync();
        await Ollama.DisposeAsync();
    }

    ValueTask IAsyncDisposable.DisposeAsync() => new(DisposeAsync());

    public async Task<(HttpStatusCode Status, string? ContentType, JsonNode Body, long Bytes)> PostAsync(string query, object? variables = null,
        string key = Alice, string? operationName = null, string? traceParent = null)
    {
        using var request = GatewayHost.GraphQLPost(query, variables, key, operationName: operationName);
        if (traceParent is not null)
            request.Headers.Add("traceparent", traceParent);
        using var response = await Gateway.SendUntracedAsync(request);
        var bytes = await response.Content.ReadAsByteArrayAsync();
        return (response.StatusCode, response.Content.Headers.ContentType?.MediaType, JsonNode.Parse(bytes)!, bytes.Length);
    }

    public async Task<(HttpStatusCode Status, JsonNode Body)> PostBytesAsync(byte[] json)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/graphql") { Content = new ByteArrayContent(json) };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        request.Headers.Accept.ParseAdd("application/graphql-response+json");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", Alice);
        using var response = await Gateway.SendUntracedAsync(request);
        return (response.StatusCode, JsonNode.Parse(await response.Content.ReadAsStringAsync())!);
    }

    public async Task<ClientWebSocket> ConnectAsync()
    {
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol(GraphQLWebSocketEndpoint.Protocol);
        await socket.ConnectAsync(new UriBuilder(Gateway.Http.BaseAddress!) { Scheme = "ws", Path = "/graphql" }.Uri, CancellationToken.None);
        return socket;
    }
}
