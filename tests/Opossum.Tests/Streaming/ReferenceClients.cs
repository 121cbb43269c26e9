using System.Text.Json;
using System.Text.Json.Nodes;

using Opossum.Tests.Support;

namespace Opossum.Tests.Streaming;

/// <summary>
/// The graphql-sse and graphql-ws reference clients (npm), run by Node against a gateway: what a
/// JavaScript chat UI would use. The packages are installed once into a folder of their own.
/// </summary>
public static class ReferenceClients
{
    private static readonly NodeFolder Node = new("opossum-reference-clients", ["graphql-sse@2.6.1", "graphql-ws@6.4.2", "ws@8.23.0", "graphql@17.1.0"],
        "tests/Opossum.Tests/Streaming/reference-clients.mjs");

    /// <summary>Runs <paramref name="ops"/> at once against <paramref name="graphql"/> and returns every event the clients saw.</summary>
    public static Task<ClientEvents> RunAsync(Uri graphql, params ClientOp[] ops) => RunWithKeyAsync(graphql, null, ops);

    /// <summary>As <see cref="RunAsync"/>, with an API key: the Authorization header over SSE, connection_init's payload over WebSocket.</summary>
    public static async Task<ClientEvents> RunWithKeyAsync(Uri graphql, string? key, params ClientOp[] ops)
    {
        var spec = JsonSerializer.Serialize(new
        {
            http = graphql.ToString(),
            authorization = key is null ? null : "Bearer " + key,
            ops = ops.Select(o => new { transport = o.Transport, query = o.Query, variables = o.Variables, stopAfter = o.StopAfter, delayMs = o.DelayMs, afterFirstOf = o.AfterFirstOf }),
        });
        var (code, output, errors) = await Node.NodeAsync(TimeSpan.FromSeconds(120), "reference-clients.mjs", spec);
        if (code != 0)
            throw new InvalidOperationException($"node exited with {code}:\n{errors}\n{output}");
        var events = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line => JsonNode.Parse(line)!)
            .Select(e => new ClientEvent(e["op"]!.GetValue<int>(), e["t"]!.GetValue<double>(), e["kind"]!.GetValue<string>(), e["payload"]))
            .ToList();
        return new ClientEvents(events);
    }

    /// <summary>The introspection query graphql-js (the reference implementation, which GraphiQL and most tools use) sends.</summary>
    /// <param name="everyOption">With the options of graphql-js that GraphQL.NET's introspection answers turned on (the schema's description, oneOf).</param>
    public static async Task<string> IntrospectionQueryAsync(bool everyOption = false)
    {
        var options = everyOption
            ? "{ schemaDescription: true, oneOf: true }"
            : "";
        var (code, output, errors) = await Node.NodeAsync(TimeSpan.FromSeconds(60), "--input-type=module", "-e",
            $"import {{ getIntrospectionQuery }} from 'graphql'; process.stdout.write(getIntrospectionQuery({options}));");
        return code == 0 ? output : throw new InvalidOperationException($"node exited with {code}:\n{errors}");
    }
}

/// <summary>
/// One operation for a reference client: <c>sse</c> or <c>ws</c>; it stops listening after <see cref="StopAfter"/> results when set;
/// it starts after <see cref="DelayMs"/>, or once operation <see cref="AfterFirstOf"/> has had its first result.
/// </summary>
public sealed record ClientOp(string Transport, string Query, object? Variables = null, int? StopAfter = null, int DelayMs = 0, int? AfterFirstOf = null);

/// <summary>An event a reference client saw: a result (<c>next</c>), <c>complete</c>, <c>error</c> or <c>stopped</c>, with the time since the run started.</summary>
public sealed record ClientEvent(int Op, double Milliseconds, string Kind, JsonNode? Payload)
{
    /// <summary>The chatStream chunk of a <c>next</c> result.</summary>
    public JsonNode? Chunk => Payload?["data"]?["chatStream"];
}

public sealed class ClientEvents(IReadOnlyList<ClientEvent> events)
{
    public IReadOnlyList<ClientEvent> All => events;

    public IReadOnlyList<ClientEvent> Of(int op) => events.Where(e => e.Op == op).ToList();

    /// <summary>The chunks of one operation's results, in order.</summary>
    public IReadOnlyList<JsonNode> Chunks(int op) => Of(op).Where(e => e.Kind == "next" && e.Chunk is not null).Select(e => e.Chunk!).ToList();

    public override string ToString() => string.Join('\n', events.Select(e => $"{e.Op} {e.Milliseconds:0} {e.Kind} {e.Payload?.ToJsonString()}"));
}
