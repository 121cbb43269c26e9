using System.Net.Http.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Cluster;
using Opossum.Tests.Support;

namespace Opossum.Tests.Protection;

/// <summary>
/// A client's schema may carry a pattern that backtracks without end, and the client can steer what the model writes: the
/// check of the answer must still end. A real gateway process, since the regex timeout is the process's (set at start-up).
/// </summary>
[Collection(IsolatedClusterCollection.Name)]
public sealed class SchemaPatternTests : IAsyncLifetime
{
    private FakeOllama _ollama = null!;

    public async Task InitializeAsync() => _ollama = await FakeOllama.StartAsync();

    public async Task DisposeAsync() => await _ollama.DisposeAsync();

    [Fact]
    public async Task An_answer_that_a_catastrophic_pattern_cannot_match_in_time_is_an_invalid_output_not_a_held_core()
    {
        await using var gateway = OpossumProcess.Start("gateway", "Opossum.Gateway", FreePorts.Next(), new Dictionary<string, string>
        {
            ["OLLAMA_BASE_URL"] = _ollama.BaseUrl.ToString(),
            ["OPOSSUM_SILO_PORT"] = FreePorts.Next().ToString(),
            ["OPOSSUM_GATEWAY_PORT"] = FreePorts.Next().ToString(),
        });
        await gateway.WaitReadyAsync(TimeSpan.FromSeconds(60));
        // (a+)+ against 40 a's and a mismatch backtracks 2^40 times: days, unbounded by anything but the match timeout.
        _ollama.JsonAnswers["nested quantifiers"] = "\"" + new string('a', 40) + "!\"";
        // Without the process's match timeout, this request would still be running when the client gives up.
        using var http = new HttpClient { BaseAddress = gateway.Http, Timeout = TimeSpan.FromSeconds(60) };

        using var response = await http.PostAsJsonAsync("/graphql", new
        {
            query = "mutation($input: ChatInput!) { chat(input: $input) { message } }",
            variables = new { input = new { message = "nested quantifiers", model = "gemma3:1b", jsonSchema = """{"type":"string","pattern":"^(a+)+$"}""" } },
        });
        var body = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;

        var error = body["errors"]![0]!;
        Assert.Equal("INVALID_MODEL_OUTPUT", error["extensions"]!["code"]!.GetValue<string>());
        Assert.Contains("took longer than 1 s to match", error["message"]!.GetValue<string>());
        Assert.Null(body["data"]?["chat"]);
    }
}
