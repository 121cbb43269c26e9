using System.Net;
using System.Net.Http.Headers;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;

namespace Opossum.Tests.Protection;

/// <summary>What a browser on another site can and cannot do with the gateway, seen over real HTTP and WebSocket.</summary>
public sealed class BrowserOriginTests(CorsGateway fixture) : IClassFixture<CorsGateway>
{
    private const string Chat = "mutation($m: String!) { chat(input: {message: $m}) { message } }";

    private static readonly NodeFolder Browser = new("opossum-browser-origins", ["puppeteer-core@25.16.0"], "tests/Opossum.Tests/Protection/cross-origin.mjs");
    private const string Chromium = "/usr/bin/chromium";

    private async Task<HttpResponseMessage> PostAsync(string? origin, string message, bool withKey = true)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/graphql")
        {
            Content = new StringContent(JsonSerializer.Serialize(new { query = Chat, variables = new { m = message } }), Encoding.UTF8, "application/json"),
        };
        request.Headers.Accept.ParseAdd("application/graphql-response+json");
        if (origin is not null)
            request.Headers.Add("Origin", origin);
        if (withKey)
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", CorsGateway.Key);
        return await fixture.Gateway.SendUntracedAsync(request);
    }

    private async Task<(ClientWebSocket Socket, HttpStatusCode Status)> ConnectAsync(string origin)
    {
        var socket = new ClientWebSocket();
        socket.Options.AddSubProtocol("graphql-transport-ws");
        socket.Options.SetRequestHeader("Origin", origin);
        socket.Options.CollectHttpResponseDetails = true;
        try
        {
            await socket.ConnectAsync(new UriBuilder(fixture.GraphQL) { Scheme = "ws" }.Uri, CancellationToken.None);
        }
        catch (WebSocketException)
        {
            // Refused before the upgrade: the status is the answer.
        }
        return (socket, socket.HttpStatusCode);
    }

    [Fact]
    public async Task A_page_of_a_foreign_origin_is_refused_with_403_before_anything_runs()
    {
        var message = $"from a foreign page {Guid.NewGuid():N}";

        using var response = await PostAsync(CorsGateway.Foreign, message);
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Equal("FORBIDDEN", body["errors"]![0]!["extensions"]!["code"]!.GetValue<string>());
        Assert.Matches("^[0-9a-f]{32}$", body["errors"]![0]!["extensions"]!["traceId"]!.GetValue<string>());
        Assert.Contains("OPOSSUM_CORS_ORIGINS", body["errors"]![0]!["message"]!.GetValue<string>());
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
        Assert.Equal(0, fixture.Ollama.CallsContaining(message));
    }

    [Fact]
    public async Task A_WebSocket_upgrade_from_a_foreign_origin_is_refused_with_403()
    {
        var (socket, status) = await ConnectAsync(CorsGateway.Foreign);
        using var _ = socket;

        Assert.Equal(HttpStatusCode.Forbidden, status);
        Assert.NotEqual(WebSocketState.Open, socket.State);
    }

    [Theory]
    [InlineData(CorsGateway.Allowed)]
    [InlineData("https://other.example")]
    public async Task An_allowed_origins_preflight_is_answered_without_a_key(string origin)
    {
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/graphql");
        preflight.Headers.Add("Origin", origin);
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", "authorization,content-type");

        using var response = await fixture.Gateway.SendUntracedAsync(preflight);

        Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        Assert.Equal(origin, Assert.Single(response.Headers.GetValues("Access-Control-Allow-Origin")));
        var methods = string.Join(",", response.Headers.GetValues("Access-Control-Allow-Methods"));
        Assert.Contains("POST", methods);
        Assert.Contains("GET", methods);
        var headers = string.Join(",", response.Headers.GetValues("Access-Control-Allow-Headers"));
        Assert.Contains("Authorization", headers);
        Assert.Contains("Content-Type", headers);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Credentials"));
        Assert.Contains("Origin", response.Headers.Vary);
    }

    [Fact]
    public async Task A_foreign_origins_preflight_is_refused()
    {
        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/graphql");
        preflight.Headers.Add("Origin", CorsGateway.Foreign);
        preflight.Headers.Add("Access-Control-Request-Method", "POST");

        using var response = await fixture.Gateway.SendUntracedAsync(preflight);

        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Fact]
    public async Task An_allowed_origins_request_is_answered_with_the_CORS_header_and_still_needs_its_key()
    {
        var message = $"from the app {Guid.NewGuid():N}";

        using var answered = await PostAsync(CorsGateway.Allowed, message);
        using var keyless = await PostAsync(CorsGateway.Allowed, message, withKey: false);

        Assert.Equal(HttpStatusCode.OK, answered.StatusCode);
        Assert.Equal(CorsGateway.Allowed, Assert.Single(answered.Headers.GetValues("Access-Control-Allow-Origin")));
        Assert.Equal("echo: " + message, JsonNode.Parse(await answered.Content.ReadAsStringAsync())!["data"]!["chat"]!["message"]!.GetValue<string>());
        Assert.Equal(HttpStatusCode.Unauthorized, keyless.StatusCode);
        Assert.Equal(CorsGateway.Allowed, Assert.Single(keyless.Headers.GetValues("Access-Control-Allow-Origin"))); // the page can read why
    }

    [Theory]
    [InlineData(null)]
    [InlineData("own")]
    public async Task Requests_without_an_Origin_or_from_the_gateways_own_page_are_answered_as_before(string? origin)
    {
        var message = $"same origin {Guid.NewGuid():N}";

        using var response = await PostAsync(origin is null ? null : fixture.Own, message);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("echo: " + message, JsonNode.Parse(await response.Content.ReadAsStringAsync())!["data"]!["chat"]!["message"]!.GetValue<string>());
        Assert.False(response.Headers.Contains("Access-Control-Allow-Origin"));
    }

    [Theory]
    [InlineData("own")]
    [InlineData(CorsGateway.Allowed)]
    public async Task A_WebSocket_from_the_own_or_an_allowed_origin_is_accepted(string origin)
    {
        var (socket, status) = await ConnectAsync(origin == "own" ? fixture.Own : origin);
        using var _ = socket;
        await socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(new { type = "connection_init", payload = new { Authorization = "Bearer " + CorsGateway.Key } }),
            WebSocketMessageType.Text, true, CancellationToken.None);
        var buffer = new byte[4096];
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var received = await socket.ReceiveAsync(buffer, timeout.Token);

        Assert.Equal(HttpStatusCode.SwitchingProtocols, status);
        Assert.Equal("connection_ack", JsonNode.Parse(Encoding.UTF8.GetString(buffer, 0, received.Count))!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task In_a_real_browser_a_listed_sites_page_uses_the_gateway_and_another_sites_page_cannot()
    {
        Assert.True(File.Exists(Chromium), $"{Chromium} is missing: apt-get install chromium (scripts/test.sh does)");
        var message = $"from a page of another site {Guid.NewGuid():N}";
        var spec = JsonSerializer.Serialize(new
        {
            graphql = fixture.GraphQL.ToString(),
            chromium = Chromium,
            origins = new[] { fixture.AllowedPage, fixture.ForeignPage },
            key = CorsGateway.Key,
            query = $"mutation {{ chat(input: {{message: \"{message}\"}}) {{ message }} }}",
        });

        var (code, output, errors) = await Browser.NodeAsync(TimeSpan.FromMinutes(2), "cross-origin.mjs", spec);

        Assert.True(code == 0, $"the browser run failed ({code}):\n{errors}\n{output}");
        var seen = JsonNode.Parse(output)!;
        var allowed = seen[fixture.AllowedPage]!;
        var foreign = seen[fixture.ForeignPage]!;
        Assert.Equal(200, allowed["fetch"]!["status"]?.GetValue<int>());
        Assert.Equal("echo: " + message, allowed["fetch"]!["body"]!["data"]!["chat"]!["message"]!.GetValue<string>());
        Assert.Equal("connection_ack", allowed["socket"]!.GetValue<string>());
        Assert.StartsWith("TypeError", foreign["fetch"]!["failed"]?.GetValue<string>()); // the browser blocked it
        Assert.Equal("closed 1006", foreign["socket"]!.GetValue<string>()); // the upgrade was refused
        Assert.Equal(1, fixture.Ollama.CallsContaining(message)); // only the listed site's chat ran
    }
}
