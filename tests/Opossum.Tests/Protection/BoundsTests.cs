using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using Microsoft.Extensions.DependencyInjection;
using Opossum.Gateway.GraphQL.Http;
using Opossum.Gateway.GraphQL.WebSockets;
using Opossum.Gateway.Protection;
using Opossum.Grains.Telemetry;
using Opossum.Tests.Streaming;
using Opossum.Tests.Support;
using Xunit.Abstractions;

namespace Opossum.Tests.Protection;

public sealed class BoundsTests(BoundedGateway fixture, ITestOutputHelper output) : IClassFixture<BoundedGateway>
{
    private const string SchemaAlias = "__schema { types { name fields { name type { name ofType { name } } } } }";

    private static string Code(JsonNode body) => body["errors"]![0]!["extensions"]!["code"]!.GetValue<string>();

    private static string Aliases(int n, string selection) => "{ " + string.Join(' ', Enumerable.Range(0, n).Select(i => $"a{i}: {selection}")) + " }";

    // What GraphQL.NET's refusal says the document cost.
    private static double CostIn(JsonNode refusal) =>
        double.Parse(Regex.Match(refusal["errors"]![0]!["message"]!.GetValue<string>(), @"Complexity is ([0-9.E+]+)").Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task Aliased_introspection_and_lookups_are_refused_before_any_grain_or_backend_call()
    {
        var calls = fixture.Ollama.Calls.Count;
        var (status, type, body, _) = await fixture.PostAsync(Aliases(300, SchemaAlias));
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("application/graphql-response+json", type);
        Assert.Equal("QUERY_TOO_COMPLEX", Code(body));
        Assert.Null(body["data"]);
        output.WriteLine($"300 aliased __schema: cost {CostIn(body)}");

        // One lookup reaches its grain (the control); 400 of them in one document reach none.
        var control = ActivityTraceId.CreateRandom().ToHexString();
        var (_, _, one, _) = await fixture.PostAsync("{ conversation(id: \"c-control\") { id } }", traceParent: TraceParent(control));
        Assert.Null(one["errors"]);
        Assert.Contains(await ServerSpansAsync(control), s => s.DisplayName.Contains("IConversationGrain"));
        var trace = ActivityTraceId.CreateRandom().ToHexString();
        var (lookupStatus, _, lookupBody, _) = await fixture.PostAsync(Aliases(400, "conversation(id: \"c-lookup\") { id }"), traceParent: TraceParent(trace));
        Assert.Equal(HttpStatusCode.BadRequest, lookupStatus);
        Assert.Equal("QUERY_TOO_COMPLEX", Code(lookupBody));
        output.WriteLine($"400 aliased conversation lookups: cost {CostIn(lookupBody)}");
        Assert.DoesNotContain(await ServerSpansAsync(trace), s => s.DisplayName.Contains("IConversationGrain"));
        Assert.Equal(calls, fixture.Ollama.Calls.Count);
    }

    [Fact]
    public async Task What_the_readme_the_page_and_graphql_tools_send_still_passes()
    {
        var (_, _, chat, _) = await fixture.PostAsync(
            "mutation { chat(input: { message: \"What is an opossum? " + Guid.NewGuid().ToString("N") + "\" }) { message conversationId backendUsed modelUsed cached tokensUsed durationMs traceId fallbackReason } }");
        Assert.True(chat["errors"] is null, chat.ToJsonString());
        var id = chat["data"]!["chat"]!["conversationId"]!.GetValue<string>();
        string[] documents =
        [
            $"query {{ conversation(id: \"{id}\") {{ turns {{ role content model at }} }} }}",
            "{ services { name servers { url state inFlight parallelism } } }",
            "{ usage { key chatsThisMinute chatsPerMinute minuteResetsAt tokensToday tokensPerDay dayResetsAt } }",
            // Opossum.Gateway/Web/app.js
            "{ models { name backend available supportsImages } }",
            "{ services { name state lastChecked latencyMs lastError } cacheStats { hits misses hitRatio } }",
            "{ recentTraces(limit: 20) { traceId rootName durationMs spanCount status services } }",
            "{ recentTraces(limit: 100) { traceId rootName startTime durationMs spanCount status services } }",
            await ReferenceClients.IntrospectionQueryAsync(),
            await ReferenceClients.IntrospectionQueryAsync(everyOption: true),
            ClassicIntrospectionQuery,
        ];
        // The same documents on a gateway whose budget is one chat: its refusals tell what each costs.
        await using var tight = await GatewayHost.StartAsync(fixture.Ollama.BaseUrl, new Dictionary<string, string?>
        {
            ["Opossum:Limits:MaxCost"] = LimitsOptions.ChatCost.ToString(),
            ["Opossum:Limits:MaxDepth"] = LimitsOptions.IntrospectionMaxDepth.ToString(),
        });
        foreach (var document in documents)
        {
            var (status, _, body, bytes) = await fixture.PostAsync(document, key: OperatorsOnly(document));
            Assert.True(status == HttpStatusCode.OK && body["errors"] is null, $"{document[..Math.Min(80, document.Length)]}: {body.ToJsonString()[..Math.Min(400, body.ToJsonString().Length)]}");
            var costed = (await tight.PostAsync(document)).Body!;
            var cost = costed["errors"] is { } errors && Code(costed) == "QUERY_TOO_COMPLEX" ? CostIn(costed).ToString("F1") : $"<= {LimitsOptions.ChatCost}";
            output.WriteLine($"cost {cost,8}, {bytes,8} bytes: {Regex.Replace(document, @"\s+", " ")[..Math.Min(70, document.Length)]}");
        }
        var (_, _, ended, _) = await fixture.PostAsync($"mutation {{ endConversation(id: \"{id}\") }}");
        Assert.True(ended["data"]!["endConversation"]!.GetValue<bool>());
        // The page streams its chat with this subscription over text/event-stream.
        var stream = await ReferenceClients.RunWithKeyAsync(new Uri(fixture.Gateway.Http.BaseAddress!, "/graphql"), BoundedGateway.Alice,
            new ClientOp("sse", "subscription Stream($input: ChatInput!) { chatStream(input: $input) { delta done message conversationId backendUsed modelUsed cached tokensUsed traceId fallbackReason } }",
                new { input = new { message = "stream " + Guid.NewGuid().ToString("N") } }));
        Assert.True(stream.Chunks(0)[^1]["done"]!.GetValue<bool>(), stream.ToString());
    }

    /// <summary>
    /// The bound: a unit of cost holds at most 1 KiB of response (answers aside), so an accepted document's response is at
    /// most MaxCost KiB. For each selection a client could repeat, the most aliases the query length and the cost accept
    /// are sent, and every response stays under the bound.
    /// </summary>
    [Fact]
    public async Task The_largest_accepted_documents_have_bounded_responses()
    {
        var (_, _, full, _) = await fixture.PostAsync(await ReferenceClients.IntrospectionQueryAsync());
        var bound = (long)fixture.Limits.MaxCost * DocumentCost.BytesPerCost;
        output.WriteLine($"MaxCost {fixture.Limits.MaxCost}: bound {bound} bytes; the longest text of the schema has {LongestString(full)} characters");
        // A conversation of two turns of 30 KiB each (the fake model echoes).
        var (_, _, chat, _) = await fixture.PostAsync("mutation($m: String!) { chat(input: {message: $m}) { conversationId } }", new { m = new string('m', 30 * 1024) });
        var conversation = chat["data"]!["chat"]!["conversationId"]!.GetValue<string>();

        string[] selections =
        [
            SchemaAlias,
            "__schema { types { description } }",
            "__schema { types { fields { description } } }",
            "__schema { types { fields { args { description type { name } } } } }",
            "__schema { types { kind name description fields { name description isDeprecated deprecationReason } } }",
            "__schema { directives { name description locations args { name description } } }",
            "__type(name: \"__Type\") { fields { name description type { kind name ofType { kind name ofType { name } } } } }",
            "__schema { types { fields { type { fields { type { fields { name description } } } } } } }",
            "__schema { types { aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: description bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb: name } }",
            "__typename",
            "models { name backend apiName available supportsImages }",
            "recentTraces(limit: 100) { traceId rootName status services }",
            $"conversation(id: \"{conversation}\") {{ turns {{ content }} }}",
        ];
        long largest = 0;
        foreach (var selection in selections)
        {
            // As many as the query length allows; when that costs too much, as many as the cost allows.
            var key = OperatorsOnly(selection);
            var n = (fixture.Limits.MaxQueryLength - 4) / (selection.Length + 9);
            var (status, _, body, bytes) = await fixture.PostAsync(Aliases(n, selection), key: key);
            var boundBy = "query length";
            if (status != HttpStatusCode.OK)
            {
                Assert.Equal("QUERY_TOO_COMPLEX", Code(body));
                n = (int)(fixture.Limits.MaxCost / (CostIn(body) / n));
                if (n == 0)
                {
                    output.WriteLine($"    0 x {selection}: one alone costs {CostIn(body) / ((fixture.Limits.MaxQueryLength - 4) / (selection.Length + 9)):F0}");
                    continue;
                }
                (status, _, body, bytes) = await fixture.PostAsync(Aliases(n, selection), key: key);
                if (status != HttpStatusCode.OK) // the cost of n aliases is n times that of one, up to rounding
                    (status, _, body, bytes) = await fixture.PostAsync(Aliases(--n, selection), key: key);
                var (_, _, over, _) = await fixture.PostAsync(Aliases(n + 1, selection), key: key);
                Assert.Equal("QUERY_TOO_COMPLEX", Code(over));
                boundBy = "cost";
            }
            Assert.True(status == HttpStatusCode.OK && body["errors"] is null, $"{n} x {selection}: {body.ToJsonString()[..Math.Min(300, body.ToJsonString().Length)]}");
            output.WriteLine($"{n,5} x {selection} (by {boundBy}): {bytes} bytes");
            Assert.InRange(bytes, 0, bound);
            largest = Math.Max(largest, bytes);
        }
        output.WriteLine($"largest accepted response: {largest} bytes");
    }

    [Fact]
    public async Task A_body_over_the_limit_is_answered_413_before_it_is_read_and_a_chat_with_the_largest_image_fits()
    {
        // Declared too large: answered after 64 KiB of a body announced at 100 MB.
        var (status, body) = await RawPostAsync(declared: 100_000_000, send: 64 * 1024);
        Assert.Equal(413, status);
        Assert.Equal("BAD_REQUEST", Code(body));
        Assert.Contains("Opossum:Limits:MaxRequestBytes", body["errors"]![0]!["message"]!.GetValue<string>());
        // Sent chunked, without a length: refused once more than the limit has arrived.
        var (chunked, chunkedBody) = await RawPostAsync(declared: null, send: (int)fixture.Limits.MaxRequestBytes + 64 * 1024);
        Assert.Equal(413, chunked);
        Assert.Equal("BAD_REQUEST", Code(chunkedBody));

        var image = new byte[Opossum.Gateway.Chat.ImageInput.MaxBytes];
        Images.Jpeg.CopyTo(image, 0);
        var (ok, _, answer, _) = await fixture.PostAsync("mutation($input: ChatInput!) { chat(input: $input) { message modelUsed } }",
            new { input = new { message = "the largest image " + Guid.NewGuid().ToString("N"), model = "llava", imageBase64 = Convert.ToBase64String(image) } });
        Assert.True(ok == HttpStatusCode.OK && answer["errors"] is null, answer.ToJsonString());
        Assert.Equal("llava", answer["data"]!["chat"]!["modelUsed"]!.GetValue<string>());
    }

    // A POST over a plain socket, so the test sees the answer while most of the announced body is still unsent.
    private async Task<(int Status, JsonNode Body)> RawPostAsync(long? declared, int send)
    {
        var address = fixture.Gateway.Http.BaseAddress!;
        using var client = new TcpClient();
        await client.ConnectAsync(address.Host, address.Port);
        var stream = client.GetStream();
        var head = $"POST /graphql HTTP/1.1\r\nHost: {address.Authority}\r\nContent-Type: application/json\r\nAccept: application/graphql-response+json\r\n"
                   + $"Authorization: Bearer {BoundedGateway.Alice}\r\n"
                   + (declared is { } length ? $"Content-Length: {length}\r\n" : "Transfer-Encoding: chunked\r\n") + "\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(head));
        var chunk = Encoding.ASCII.GetBytes("{\"query\":\"#" + new string('x', 16 * 1024));
        try
        {
            for (var sent = 0; sent < send; sent += chunk.Length)
            {
                if (declared is null)
                    await stream.WriteAsync(Encoding.ASCII.GetBytes($"{chunk.Length:X}\r\n"));
                await stream.WriteAsync(chunk);
                if (declared is null)
                    await stream.WriteAsync("\r\n"u8.ToArray());
            }
        }
        catch (IOException)
        {
            // The server answered and closed the connection while the body was still being sent.
        }
        using var reader = new StreamReader(stream, Encoding.UTF8);
        var statusLine = await reader.ReadLineAsync() ?? "";
        var status = int.Parse(statusLine.Split(' ')[1]);
        long contentLength = 0;
        for (var line = await reader.ReadLineAsync(); !string.IsNullOrEmpty(line); line = await reader.ReadLineAsync())
        {
            if (line.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                contentLength = long.Parse(line[15..].Trim());
        }
        var content = new char[contentLength];
        var read = 0;
        while (read < contentLength)
            read += await reader.ReadAsync(content, read, (int)contentLength - read);
        return (status, JsonNode.Parse(new string(content))!);
    }

    private static Task<JsonNode?> ReceiveAsync(ClientWebSocket socket) => Streaming.WebSocketProtocolTests.ReceiveAsync(socket, TimeSpan.FromSeconds(15));

    private static async Task<(int? Code, string? Reason)> ClosedWithAsync(ClientWebSocket socket)
    {
        while (await ReceiveAsync(socket) is not null) { }
        return ((int?)socket.CloseStatus, socket.CloseStatusDescription);
    }

    private static Task SendAsync(ClientWebSocket socket, string json) =>
        socket.SendAsync(Encoding.UTF8.GetBytes(json), WebSocketMessageType.Text, true, CancellationToken.None);

    private static async Task InitAsync(ClientWebSocket socket, string key)
    {
        await SendAsync(socket, JsonSerializer.Serialize(new { type = "connection_init", payload = new { Authorization = "Bearer " + key } }));
        var ack = await ReceiveAsync(socket);
        Assert.Equal("connection_ack", ack?["type"]?.GetValue<string>());
    }

    [Fact]
    public async Task A_first_message_of_10_KB_without_connection_init_is_closed_with_1009()
    {
        using var socket = await fixture.ConnectAsync();
        await SendAsync(socket, JsonSerializer.Serialize(new { type = "ping", payload = new { padding = new string('p', 10_000) } }));
        Assert.Equal(1009, (await ClosedWithAsync(socket)).Code);
    }

    [Fact]
    public async Task A_fifth_websocket_for_a_key_with_a_limit_of_4_is_closed_with_4430_while_other_keys_connect()
    {
        var open = new List<ClientWebSocket>();
        try
        {
            for (var i = 0; i < BoundedGateway.WebSockets; i++)
            {
                var socket = await fixture.ConnectAsync();
                open.Add(socket);
                await InitAsync(socket, BoundedGateway.Bob);
            }
            using var fifth = await fixture.ConnectAsync();
            await SendAsync(fifth, JsonSerializer.Serialize(new { type = "connection_init", payload = new { Authorization = "Bearer " + BoundedGateway.Bob } }));
            var (code, reason) = await ClosedWithAsync(fifth);
            Assert.Equal(GraphQLWebSocketEndpoint.TooManyConnections, code);
            Assert.Contains("4 per client", reason);

            // The graphql-ws client reports the code and the reason.
            var client = await ReferenceClients.RunWithKeyAsync(new Uri(fixture.Gateway.Http.BaseAddress!, "/graphql"), BoundedGateway.Bob,
                new ClientOp("ws", "{ models { name } }"));
            var error = client.Of(0).Single(e => e.Kind == "error").Payload!;
            Assert.Equal(GraphQLWebSocketEndpoint.TooManyConnections, error["closeCode"]!.GetValue<int>());
            Assert.Contains("Too many connections", error["message"]!.GetValue<string>());

            using var other = await fixture.ConnectAsync();
            await InitAsync(other, BoundedGateway.Carol); // another key is not affected

            // A socket that closes frees its place.
            await open[0].CloseAsync(WebSocketCloseStatus.NormalClosure, "done", CancellationToken.None);
            var deadline = Stopwatch.StartNew();
            while (true)
            {
                using var again = await fixture.ConnectAsync();
                await SendAsync(again, JsonSerializer.Serialize(new { type = "connection_init", payload = new { Authorization = "Bearer " + BoundedGateway.Bob } }));
                if ((await ReceiveAsync(again))?["type"]?.GetValue<string>() == "connection_ack") break;
                Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(10), "the closed socket's place was never freed");
            }
        }
        finally
        {
            foreach (var socket in open)
                socket.Dispose();
        }
    }

    [Fact]
    public async Task An_operation_over_the_limit_of_a_websocket_is_closed_with_4431()
    {
        var hold = "hold " + Guid.NewGuid().ToString("N");
        fixture.Ollama.Delays[hold] = TimeSpan.FromSeconds(30);
        using var socket = await fixture.ConnectAsync();
        await InitAsync(socket, BoundedGateway.Carol);
        for (var i = 0; i <= BoundedGateway.Operations; i++)
        {
            var query = $"subscription {{ chatStream(input: {{message: \"{hold} {i}\"}}) {{ delta }} }}";
            await SendAsync(socket, JsonSerializer.Serialize(new { id = $"op{i}", type = "subscribe", payload = new { query } }));
        }
        var (code, reason) = await ClosedWithAsync(socket);
        Assert.Equal(GraphQLWebSocketEndpoint.TooManyOperations, code);
        Assert.Contains("2 per connection", reason);
    }

    [Fact]
    public async Task A_query_over_the_length_limit_over_websocket_gets_an_error_and_the_socket_stays_open()
    {
        using var socket = await fixture.ConnectAsync();
        await InitAsync(socket, BoundedGateway.Carol);
        var query = "#" + new string('x', fixture.Limits.MaxQueryLength) + "\n{ __typename }";
        await SendAsync(socket, JsonSerializer.Serialize(new { id = "long", type = "subscribe", payload = new { query } }));
        var error = (await ReceiveAsync(socket))!;
        Assert.Equal("error", error["type"]!.GetValue<string>());
        Assert.Equal("BAD_REQUEST", error["payload"]![0]!["extensions"]!["code"]!.GetValue<string>());
        Assert.Contains("MaxQueryLength", error["payload"]![0]!["message"]!.GetValue<string>());
        await SendAsync(socket, """{"id":"short","type":"subscribe","payload":{"query":"{ __typename }"}}""");
        Assert.Equal("next", (await ReceiveAsync(socket))!["type"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_huge_operation_name_yields_a_bounded_span_name()
    {
        var longName = "Q" + new string('n', 5000);
        var trace = ActivityTraceId.CreateRandom().ToHexString();
        var (status, _, _, _) = await fixture.PostAsync($"query {longName} {{ __typename }}", traceParent: TraceParent(trace));
        Assert.Equal(HttpStatusCode.OK, status);
        var spans = await fixture.Gateway.Spans.SpansOfTraceAsync(trace, s => s.Source.Name == OpossumTelemetry.GraphQL.Name);
        var operation = spans.Single(s => s.Source.Name == OpossumTelemetry.GraphQL.Name);
        Assert.Equal("query " + longName[..GraphQLExecutor.MaxOperationNameChars] + "…", operation.DisplayName);

        // A requested name that names no operation of the document is not a span name.
        var sent = "Evil" + new string('e', 100_000);
        var other = ActivityTraceId.CreateRandom().ToHexString();
        var (_, _, refused, _) = await fixture.PostAsync("query Real { __typename }", operationName: sent, traceParent: TraceParent(other));
        Assert.NotNull(refused["errors"]);
        var otherSpans = await ServerSpansAsync(other);
        Assert.All(otherSpans, s =>
        {
            Assert.DoesNotContain("Evil", s.DisplayName);
            Assert.InRange(s.DisplayName.Length, 1, 100);
            Assert.DoesNotContain(s.TagObjects, t => t.Value is string v && v.Contains("Evil"));
        });
    }

    private static string TraceParent(string traceId) => $"00-{traceId}-{ActivitySpanId.CreateRandom().ToHexString()}-01";

    // Every span of a trace, once its HTTP server span (the last to end) is exported.
    private Task<List<Activity>> ServerSpansAsync(string traceId) =>
        fixture.Gateway.Spans.SpansOfTraceAsync(traceId, s => s.Kind == ActivityKind.Server && s.Source.Name == "Microsoft.AspNetCore");

    private static int LongestString(JsonNode? node) => node switch
    {
        JsonObject o => o.Select(p => Math.Max(p.Key.Length, LongestString(p.Value))).DefaultIfEmpty(0).Max(),
        JsonArray a => a.Select(LongestString).DefaultIfEmpty(0).Max(),
        JsonValue v when v.TryGetValue<string>(out var s) => s.Length,
        _ => 0,
    };

    /// <summary>The introspection query GraphiQL and graphql-js sent before graphql 15 (<c>introspectionQuery</c>).</summary>
    private const string ClassicIntrospectionQuery = """
        query IntrospectionQuery {
          __schema {
            queryType { name }
            mutationType { name }
            subscriptionType { name }
            types { ...FullType }
            directives { name description locations args { ...InputValue } }
          }
        }
        fragment FullType on __Type {
          kind name description
          fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
          inputFields { ...InputValue }
          interfaces { ...TypeRef }
          enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
          possibleTypes { ...TypeRef }
        }
        fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
        fragment TypeRef on __Type {
          kind name
          ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
        }
        """;

    private static string OperatorsOnly(string document) => document.Contains("recentTraces", StringComparison.Ordinal) ? BoundedGateway.Ops : BoundedGateway.Alice;
}

[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class AloneCollection
{
    /// <summary>Tests that measure the process's memory: run when no other test allocates beside them.</summary>
    public const string Name = "alone";
}

[Collection(AloneCollection.Name)]
public sealed class QueryMemoryTests(ITestOutputHelper output)
{
    private static string Code(JsonNode body) => body["errors"]![0]!["extensions"]!["code"]!.GetValue<string>();

    [Fact]
    public async Task A_query_over_the_length_limit_is_refused_before_parsing_and_memory_stays_flat_after_a_hundred()
    {
        await using var gateway = new BoundedGateway();
        await gateway.InitializeAsync();
        var documents = gateway.Gateway.Services.GetRequiredService<DocumentCache>();
        // Made once: the client sends the same bytes each time and allocates nothing that could be mistaken for the gateway's.
        var huge = JsonSerializer.SerializeToUtf8Bytes(new { query = "#" + new string('x', 4 * 1024 * 1024) + "\n{ __typename }" });
        var (status, body) = await gateway.PostBytesAsync(huge);
        Assert.Equal(HttpStatusCode.BadRequest, status);
        Assert.Equal("BAD_REQUEST", Code(body));
        Assert.Contains("the limit is 65536 (Opossum:Limits:MaxQueryLength)", body["errors"]![0]!["message"]!.GetValue<string>());

        var before = GC.GetTotalMemory(forceFullCollection: true);
        output.WriteLine("generations before: " + string.Join(", ", GC.GetGCMemoryInfo().GenerationInfo.ToArray().Select((g, i) => $"{i}: {g.SizeAfterBytes / 1048576.0:F1} MiB")));
        var workingSetBefore = Process.GetCurrentProcess().WorkingSet64;
        var (cached, chars) = (documents.Count, documents.Chars);
        for (var i = 0; i < 100; i++)
            Assert.Equal(HttpStatusCode.BadRequest, (await gateway.PostBytesAsync(huge)).Status);
        var after = GC.GetTotalMemory(forceFullCollection: true);
        var info = GC.GetGCMemoryInfo();
        output.WriteLine("generations after: " + string.Join(", ", info.GenerationInfo.ToArray().Select((g, i) => $"{i}: {g.SizeAfterBytes / 1048576.0:F1} MiB")));
        var workingSetAfter = Process.GetCurrentProcess().WorkingSet64;
        output.WriteLine($"managed heap {before / 1048576.0:F1} -> {after / 1048576.0:F1} MiB; working set {workingSetBefore / 1048576.0:F1} -> {workingSetAfter / 1048576.0:F1} MiB (test and gateway share the process)");
        Assert.InRange(after - before, long.MinValue, 32L * 1024 * 1024); // 100 kept would be 800 MiB of text
        Assert.Equal((cached, chars), (documents.Count, documents.Chars));

        // Documents under the limit are cached, up to the cache's characters in all.
        for (var i = 0; i < 100; i++)
        {
            var (ok, _, _, _) = await gateway.PostAsync($"# {i}{new string('y', 60 * 1024)}\n{{ __typename }}");
            Assert.Equal(HttpStatusCode.OK, ok);
        }
        output.WriteLine($"after 100 documents of 60 KiB: {documents.Count} cached, {documents.Chars} characters");
        Assert.True(documents.Chars > chars);
        Assert.InRange(documents.Chars, 0, DocumentCache.MaxTotalChars);
    }
}
