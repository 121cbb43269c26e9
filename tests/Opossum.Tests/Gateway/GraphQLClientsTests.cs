using System.Text.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Support;

namespace Opossum.Tests.Gateway;

/// <summary>
/// Widely used GraphQL clients (urql, Apollo Client, graphql-request), npm-installed and run by Node as an app would
/// use them, over HTTP against the gateway: each gets its answers in JSON, surfaces error codes, and leaves Node alive.
/// </summary>
[Collection(GatewayCollection.Name)]
public sealed class GraphQLClientsTests(GatewayFixture fixture)
{
    // graphql-request 7.4.0 declares graphql 14-16 as its peer but runs on 17, which Apollo Client 4 also takes;
    // Apollo Client 4 needs rxjs beside it.
    private static readonly NodeFolder Node = new("opossum-graphql-clients",
        ["--legacy-peer-deps", "@urql/core@6.0.3", "@apollo/client@4.3.8", "rxjs@7.8.2", "graphql-request@7.4.0", "graphql@17.1.0"],
        "tests/Opossum.Tests/Gateway/graphql-clients.mjs");

    private const string Chat = "mutation Chat($input: ChatInput!) { chat(input: $input) { message } }";

    [Fact]
    public async Task Urql_Apollo_and_graphql_request_get_queries_mutations_and_error_codes_in_JSON()
    {
        var message = $"from a GraphQL client {Guid.NewGuid():N}";
        var spec = JsonSerializer.Serialize(new
        {
            http = new Uri(fixture.Gateway.Http.BaseAddress!, "/graphql").ToString(),
            query = "query Models { models { name } }",
            mutation = Chat,
            variables = new { input = new { message, noCache = true } },
            failing = Chat,
            failingVariables = new { input = new { message, model = "no-such-model" } },
        });

        var (code, output, errors) = await Node.NodeAsync(TimeSpan.FromSeconds(120), "graphql-clients.mjs", spec);

        Assert.True(code == 0, $"node exited with {code}:\n{errors}\n{output}");
        var results = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonNode.Parse(line)!)
            .ToDictionary(r => (r["client"]!.GetValue<string>(), r["op"]!.GetValue<string>()));
        foreach (var client in new[] { "urql", "apollo", "graphql-request" })
        {
            var query = results[(client, "query")];
            var mutation = results[(client, "mutation")];
            var error = results[(client, "error")];
            Assert.Equal("gemma3:1b", query["data"]?["models"]?[0]?["name"]?.GetValue<string>());
            Assert.Equal("echo: " + message, mutation["data"]?["chat"]?["message"]?.GetValue<string>());
            Assert.Null(mutation["code"]);
            Assert.Equal("MODEL_NOT_FOUND", error["code"]?.GetValue<string>());
            Assert.All([query, mutation, error], r => Assert.Equal("application/graphql-response+json; charset=utf-8", r["contentType"]?.GetValue<string>()));
        }
        Assert.Equal(3, fixture.Ollama.CallsContaining(message)); // one generation per client: noCache
    }
}
