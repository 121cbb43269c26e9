using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;

namespace Opossum.Tests.Gateway;

/// <summary>The GraphQL-over-HTTP specification's rules, as a client sees them.</summary>
[Collection(GatewayCollection.Name)]
public sealed class GraphQLOverHttpTests(GatewayFixture fixture)
{
    private const string GraphQLResponse = "application/graphql-response+json";

    private async Task<GraphQLResult> SendAsync(HttpMethod method, string uri, string? body = null, string contentType = "application/json", string? accept = GraphQLResponse)
    {
        using var request = new HttpRequestMessage(method, uri);
        if (body is not null)
            request.Content = new StringContent(body, Encoding.UTF8, contentType);
        if (accept is not null)
            request.Headers.TryAddWithoutValidation("Accept", accept);
        using var response = await fixture.Gateway.Http.SendAsync(request);
        var result = await GraphQLResult.ReadAsync(response);
        if (response.Content.Headers.Allow.Count > 0)
            return result with { ContentType = result.ContentType + " allow=" + string.Join(",", response.Content.Headers.Allow) };
        return result;
    }

    [Fact]
    public async Task A_query_over_GET_works()
    {
        var result = await SendAsync(HttpMethod.Get, "/graphql?query=" + Uri.EscapeDataString("{ models { name } }"));

        Assert.Equal(200, result.Status);
        Assert.Equal(GraphQLResponse, result.ContentType);
        Assert.Equal("gemma3:1b", result.Data!["models"]![0]!["name"]!.GetValue<string>());
    }

    [Theory]
    [InlineData("{\"query\": \"{ models { name } }\"}")] // executed
    [InlineData("{\"query\": \"{ models { name \"}")] // a request error
    public async Task A_response_arrives_in_one_piece_with_its_length(string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/graphql") { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await fixture.Gateway.Http.SendAsync(request);
        var bytes = await response.Content.ReadAsByteArrayAsync();

        Assert.Null(response.Headers.TransferEncodingChunked);
        Assert.Equal(bytes.Length, response.Content.Headers.ContentLength);
        Assert.Equal("utf-8", response.Content.Headers.ContentType?.CharSet);
        using var json = System.Text.Json.JsonDocument.Parse(bytes); // whole, valid JSON
        Assert.True(json.RootElement.TryGetProperty("data", out _) || json.RootElement.TryGetProperty("errors", out _));
    }

    [Fact]
    public async Task GET_takes_variables_and_operation_name()
    {
        var query = Uri.EscapeDataString("query A { models { name } } query B($id: ID!) { conversation(id: $id) { id } }");
        var variables = Uri.EscapeDataString("{\"id\":\"nobody\"}");

        var result = await SendAsync(HttpMethod.Get, $"/graphql?query={query}&operationName=B&variables={variables}");

        Assert.Equal(200, result.Status);
        Assert.Empty(result.Errors);
        Assert.Null(result.Data!["conversation"]);
    }

    [Fact]
    public async Task A_mutation_over_GET_is_405_and_does_nothing()
    {
        var calls = fixture.Ollama.Calls.Count;
        var mutation = Uri.EscapeDataString("mutation { chat(input: {message: \"over get\"}) { message } }");

        using var response = await fixture.Gateway.Http.GetAsync("/graphql?query=" + mutation);

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Contains("POST", response.Content.Headers.Allow);
        Assert.Equal(calls, fixture.Ollama.Calls.Count);
    }

    [Theory]
    [InlineData("{}", "non-empty string 'query'")]
    [InlineData("{\"query\": 42}", "non-empty string 'query'")]
    [InlineData("[{\"query\": \"{ models { name } }\"}]", "must be a JSON object")]
    [InlineData("{\"query\": \"{ models { name } }\", \"variables\": \"nope\"}", "'variables'")]
    [InlineData("{\"query\": ", "not valid JSON")]
    [InlineData("{\"query\": \"{ models { name } }\"} {}", "not valid JSON")]
    [InlineData("{\"query\": \"{ models { name } }\"", "not valid JSON")]
    [InlineData("", "not valid JSON")]
    public async Task A_body_that_is_not_one_GraphQL_request_object_is_400_saying_why(string body, string why)
    {
        var result = await SendAsync(HttpMethod.Post, "/graphql", body);

        Assert.Equal(400, result.Status);
        Assert.Contains(why, result.ErrorMessage);
    }

    // Over 2 MiB: more than Kestrel buffers for a request, so the body arrives in many reads.
    [Theory]
    [InlineData("", 200, null)]
    [InlineData(", \"variables\": \"nope\"", 400, "'variables'")]
    [InlineData(", \"variables\": ", 400, "not valid JSON")]
    public async Task A_large_body_is_read_whole(string tail, int status, string? error)
    {
        var body = "{\"extensions\": {\"padding\": \"" + new string('x', 2 * 1024 * 1024) + "\"}, \"query\": \"{ models { name } }\"" + tail + "}";

        var result = await SendAsync(HttpMethod.Post, "/graphql", body);

        Assert.Equal(status, result.Status);
        if (error is null)
            Assert.Equal("gemma3:1b", result.Data!["models"]![0]!["name"]!.GetValue<string>());
        else
            Assert.Contains(error, result.ErrorMessage);
    }

    // The document cache is looked up by the query's decoded text: JSON escapes, texts longer than a stack
    // buffer and the same text spelled with other escapes must all find (or add) the same document.
    [Theory]
    [InlineData("{ models { name } }", "{ models { name } }")]
    [InlineData("{ models {\\n name } }", "{ models {\\u000a name } }")]
    [InlineData("{ \\u006dodels { name } }", "{ models { name } }")]
    [InlineData("{ models { name } # é ü \\u00e9 padding", "{ models { name } # \\u00e9 \\u00fc \\u00e9 padding")]
    public async Task A_query_is_answered_the_same_however_its_JSON_spells_it_and_however_long(string spelled, string respelled)
    {
        foreach (var padding in new[] { 0, 600, 60_000 })
        {
            var tail = padding == 0 ? "" : "\\n#" + new string('x', padding) + "\\n";
            var close = spelled.Contains('#') ? "\\n}" : "";
            foreach (var text in new[] { spelled, spelled, respelled })
            {
                var result = await SendAsync(HttpMethod.Post, "/graphql", "{\"query\": \"" + text + tail + close + "\"}");

                Assert.Equal(200, result.Status);
                Assert.Equal("gemma3:1b", result.Data!["models"]![0]!["name"]!.GetValue<string>());
            }
        }
    }

    // JSON text is UTF-8: a string that is not (here a lead byte followed by an ASCII one) makes the body invalid JSON.
    [Theory]
    [InlineData("{\"query\": \"{ models { name } }@\"}")]
    [InlineData("{\"query\": \"{ models { name } }\", \"operationName\": \"@\"}")]
    [InlineData("{\"query\": \"{ models { name } }\", \"variables\": {\"x\": \"@\"}}")]
    public async Task A_body_that_is_not_UTF8_is_400(string template)
    {
        var at = template.IndexOf('@');
        byte[] body = [.. Encoding.UTF8.GetBytes(template[..at]), 0xC3, 0x28, .. Encoding.UTF8.GetBytes(template[(at + 1)..])];
        using var request = new HttpRequestMessage(HttpMethod.Post, "/graphql") { Content = new ByteArrayContent(body) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", "application/json");
        using var response = await fixture.Gateway.Http.SendAsync(request);
        var result = await GraphQLResult.ReadAsync(response);

        Assert.Equal(400, result.Status);
        Assert.Contains("not valid JSON", result.ErrorMessage);
    }

    [Fact]
    public async Task An_unparsable_document_is_400_with_a_syntax_error()
    {
        var result = await SendAsync(HttpMethod.Post, "/graphql", "{\"query\": \"{ models { name \"}");

        Assert.Equal(400, result.Status);
        Assert.Equal(GraphQLResponse, result.ContentType);
        Assert.Equal("SYNTAX_ERROR", result.ErrorCode);
        Assert.Null(result.Body!["data"]);
    }

    [Fact]
    public async Task A_document_that_does_not_validate_is_400()
    {
        var result = await SendAsync(HttpMethod.Post, "/graphql", "{\"query\": \"{ noSuchField }\"}");

        Assert.Equal(400, result.Status);
        Assert.Contains("noSuchField", result.ErrorMessage);
    }

    [Theory]
    [InlineData("application/json", 200)]
    [InlineData("APPLICATION/JSON; charset=UTF-8", 200)]
    [InlineData("application/json;charset=utf-8", 200)]
    [InlineData("application/json; charset=iso-8859-1", 415)]
    [InlineData("text/plain", 415)]
    public async Task A_POST_body_must_be_UTF8_JSON(string contentType, int status)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, "/graphql") { Content = new ByteArrayContent(Encoding.UTF8.GetBytes("{\"query\": \"{ models { name } }\"}")) };
        request.Content.Headers.TryAddWithoutValidation("Content-Type", contentType);
        using var response = await fixture.Gateway.Http.SendAsync(request);
        var result = await GraphQLResult.ReadAsync(response);

        Assert.Equal(status, result.Status);
        if (status == 415)
            Assert.Contains("Content-Type must be application/json", result.ErrorMessage);
        else
            Assert.Equal("gemma3:1b", result.Data!["models"]![0]!["name"]!.GetValue<string>());
    }

    [Fact]
    public async Task Without_an_Accept_header_the_answer_is_application_json()
    {
        var result = await SendAsync(HttpMethod.Post, "/graphql", "{\"query\": \"{ noSuchField }\"}", accept: null);

        // application/json keeps 200 for request errors of a well-formed request (spec, legacy clients).
        Assert.Equal(200, result.Status);
        Assert.Equal("application/json", result.ContentType);
        Assert.NotEmpty(result.Errors);
    }

    [Fact]
    public async Task A_GET_without_an_Accept_header_is_answered_in_application_json()
    {
        var result = await SendAsync(HttpMethod.Get, "/graphql?query=" + Uri.EscapeDataString("{ models { name } }"), accept: null);

        Assert.Equal(200, result.Status);
        Assert.Equal("application/json", result.ContentType);
        Assert.Equal("gemma3:1b", result.Data!["models"]![0]!["name"]!.GetValue<string>());
    }

    // What fetch and curl send when the caller names no type: the client has not asked for the spec's own type.
    [Theory]
    [InlineData("GET")]
    [InlineData("POST")]
    public async Task Accepting_anything_is_answered_in_application_json_with_200_for_request_errors(string method)
    {
        var result = method == "GET"
            ? await SendAsync(HttpMethod.Get, "/graphql?query=" + Uri.EscapeDataString("{ noSuchField }"), accept: "*/*")
            : await SendAsync(HttpMethod.Post, "/graphql", "{\"query\": \"{ noSuchField }\"}", accept: "*/*");

        Assert.Equal(200, result.Status);
        Assert.Equal("application/json", result.ContentType);
        Assert.Contains("noSuchField", result.ErrorMessage);
    }

    [Theory]
    [InlineData("application/graphql-response+json", 200, GraphQLResponse)]
    [InlineData("Application/JSON", 200, "application/json")]
    [InlineData(" */* ", 200, "application/json")]
    [InlineData("application/*", 200, "application/json")]
    [InlineData("application/json, application/graphql-response+json;q=0.9", 200, "application/json")]
    [InlineData("application/graphql-response+json;q=0, application/json", 200, "application/json")]
    [InlineData("application/graphql-response+json, application/json", 200, GraphQLResponse)]
    [InlineData("application/graphql-response+json, */*;q=0.8", 200, GraphQLResponse)]
    [InlineData("text/html, */*;q=0.1", 200, "application/json")]
    [InlineData("text/html", 406, "application/json")]
    public async Task The_answer_comes_in_the_media_type_the_client_prefers(string accept, int status, string contentType)
    {
        var result = await SendAsync(HttpMethod.Post, "/graphql", "{\"query\": \"{ models { name } }\"}", accept: accept);

        Assert.Equal(status, result.Status);
        Assert.Equal(contentType, result.ContentType);
    }

    // urql's default: every type it can read, the stream among them.
    private const string UrqlAccept = "application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed";

    // text/event-stream is for subscriptions; a query or mutation streams only when the client prefers it (q-values, then order).
    [Theory]
    [InlineData("query", UrqlAccept, GraphQLResponse)]
    [InlineData("mutation", UrqlAccept, GraphQLResponse)]
    [InlineData("subscription", UrqlAccept, "text/event-stream")]
    [InlineData("mutation", "application/json, text/event-stream", "application/json")]
    [InlineData("mutation", "text/event-stream, application/json", "text/event-stream")]
    [InlineData("query", "text/event-stream", "text/event-stream")]
    [InlineData("query", "application/json;q=0.5, text/event-stream", "text/event-stream")]
    [InlineData("query", "*/*, text/event-stream", "application/json")]
    [InlineData("subscription", "application/json, text/event-stream;q=0.1", "text/event-stream")]
    [InlineData("subscription", "text/event-stream;q=0, application/json", "application/json 406")]
    [InlineData("subscription", "*/*", "application/json 406")]
    public async Task The_first_type_the_client_accepts_wins_and_only_a_subscription_streams_whenever_it_may(string operation, string accept, string expected)
    {
        var input = $"{{message: \"negotiated {Guid.NewGuid():N}\"}}";
        var document = operation switch
        {
            "query" => "{ models { name } }",
            "mutation" => $"mutation {{ chat(input: {input}) {{ message }} }}",
            _ => $"subscription {{ chatStream(input: {input}) {{ delta done }} }}",
        };

        var result = await SendAsync(HttpMethod.Post, "/graphql", System.Text.Json.JsonSerializer.Serialize(new { query = document }), accept: accept);

        Assert.Equal(expected, result.Status == 200 ? result.ContentType : $"{result.ContentType} {result.Status}");
        if (result.Status == 200)
        {
            var text = result.ContentType == "text/event-stream" ? result.Body!.GetValue<string>() : result.Body!.ToJsonString();
            Assert.Contains("\"data\"", text);
            Assert.DoesNotContain("\"errors\"", text);
        }
        else
        {
            Assert.Contains("text/event-stream", result.ErrorMessage);
        }
    }

    [Fact]
    public async Task Other_methods_are_405()
    {
        using var response = await fixture.Gateway.Http.PutAsync("/graphql", new StringContent("{}", Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.MethodNotAllowed, response.StatusCode);
        Assert.Contains("GET", response.Content.Headers.Allow);
    }
}

/// <summary>Documents are parsed and validated once; what varies per request is still checked every time.</summary>
[Collection(GatewayCollection.Name)]
public sealed class DocumentCacheTests(GatewayFixture fixture)
{
    [Fact]
    public async Task A_cached_document_still_coerces_and_checks_each_requests_variables()
    {
        const string query = "mutation Cached($input: ChatInput!) { chat(input: $input) { message } }";
        var good = await fixture.Gateway.PostAsync(query, new { input = new { message = $"cached doc {Guid.NewGuid():N}" } });
        var again = await fixture.Gateway.PostAsync(query, new { input = new { message = $"cached doc {Guid.NewGuid():N}" } });
        var missing = await fixture.Gateway.PostAsync(query, new { input = new { model = "gemma3:1b" } });
        var wrongType = await fixture.Gateway.PostAsync(query, new { input = new { message = new[] { 1, 2 } } });

        Assert.Empty(good.Errors);
        Assert.StartsWith("echo: cached doc", again.Data!["chat"]!["message"]!.GetValue<string>());
        Assert.NotEmpty(missing.Errors);
        Assert.Null(missing.Data?["chat"]);
        Assert.NotEmpty(wrongType.Errors);
        Assert.Equal(0, fixture.Ollama.CallsContaining("System.Int32"));
    }

    [Fact]
    public async Task Concurrent_requests_of_one_cached_document_each_get_their_own_variables()
    {
        const string query = "mutation Together($input: ChatInput!) { chat(input: $input) { message } }";
        Assert.Empty((await fixture.Gateway.PostAsync(query, new { input = new { message = $"first {Guid.NewGuid():N}" } })).Errors); // cached now
        var messages = Enumerable.Range(0, 32).Select(i => $"together {i} {Guid.NewGuid():N}").ToList();

        var answers = await Task.WhenAll(messages.Select(m => fixture.Gateway.PostAsync(query, new { input = new { message = m } })));

        Assert.Equal(messages.Select(m => $"echo: {m}"), answers.Select(a => a.Data?["chat"]?["message"]?.GetValue<string>()));
    }

    [Fact]
    public async Task A_cached_document_takes_each_requests_arguments()
    {
        for (var i = 0; i < 3; i++)
            Assert.Empty((await fixture.Gateway.ChatAsync(new { message = $"a trace to list {Guid.NewGuid():N}" })).Errors);
        const string query = "query Listed($limit: Int!) { recentTraces(limit: $limit) { traceId } one: recentTraces(limit: 1) { traceId } }";

        var two = await fixture.Gateway.PostAsync(query, new { limit = 2 });
        var three = await fixture.Gateway.PostAsync(query, new { limit = 3 }); // the cached document now

        Assert.Equal(2, two.Data!["recentTraces"]!.AsArray().Count);
        Assert.Equal(3, three.Data!["recentTraces"]!.AsArray().Count);
        Assert.Single(three.Data!["one"]!.AsArray());
    }

    [Theory]
    [InlineData("""{"limit": "many"}""")]
    [InlineData("""{"limit": null}""")]
    [InlineData("""{}""")]
    public async Task A_cached_document_refuses_bad_variables_as_an_uncached_one_does(string variables)
    {
        const string query = "query Bad($limit: Int!) { recentTraces(limit: $limit) { traceId } }";
        Assert.Empty((await fixture.Gateway.PostAsync(query, new { limit = 1 })).Errors); // executed, so cached

        var cached = await fixture.Gateway.PostAsync(query, JsonNode.Parse(variables));
        // The same document with a trailing space is another text: parsed and validated in full.
        var uncached = await fixture.Gateway.PostAsync(query + " ", JsonNode.Parse(variables));

        Assert.Equal(400, cached.Status);
        Assert.NotEmpty(cached.Errors);
        Assert.Equal(uncached.Status, cached.Status);
        Assert.True(JsonNode.DeepEquals(WithoutTraceIds(uncached.Body), WithoutTraceIds(cached.Body)),
            $"uncached: {uncached.Body?.ToJsonString()}\ncached:   {cached.Body?.ToJsonString()}");
    }

    private static JsonNode? WithoutTraceIds(JsonNode? body)
    {
        var copy = body?.DeepClone();
        foreach (var error in copy?["errors"]?.AsArray() ?? [])
            error?["extensions"]?.AsObject().Remove("traceId");
        return copy;
    }
}
