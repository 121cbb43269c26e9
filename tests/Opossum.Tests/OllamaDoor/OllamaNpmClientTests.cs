using System.Text.Json.Nodes;

namespace Opossum.Tests.OllamaDoor;

/// <summary>
/// The official <c>ollama</c> npm client, unmodified, run by Node against the gateway's Ollama door as an app runs it against
/// an Ollama server (<c>host</c>: the gateway's URL; the key in its <c>headers</c>). One run of the script plays every scenario
/// (<see cref="OllamaNpmRun"/>); each test asserts on what the client saw and on what the loopback backend was asked.
/// </summary>
[Collection(OllamaDoorCollection.Name)]
public sealed class OllamaNpmClientTests(OllamaDoorGateway fixture)
{
    private static readonly string Chat = OllamaNpmRun.Chat, Stream = OllamaNpmRun.Stream, Image = OllamaNpmRun.Image,
        Parameters = OllamaNpmRun.Parameters, Cache = OllamaNpmRun.Cache, Concurrent = OllamaNpmRun.Concurrent, Cut = OllamaNpmRun.Cut,
        Limited = OllamaNpmRun.Limited, Generate = OllamaNpmRun.Generate;

    private Task<Dictionary<string, JsonNode>> Results() => OllamaNpmRun.ResultsAsync(fixture);

    private async Task<JsonNode> ScenarioAsync(string name) => (await Results())[name];

    private static string? Text(JsonNode? node) => node?.GetValue<string>();

    [Fact]
    public async Task A_chat_answers_in_Ollamas_shape_with_the_usage_the_backend_counted()
    {
        var chat = await ScenarioAsync("chat");

        Assert.Null(chat["error"]);
        Assert.Equal("echo: " + Chat, Text(chat["content"]));
        Assert.Equal("assistant", Text(chat["role"]));
        Assert.Equal(OllamaDoorGateway.Model, Text(chat["model"]));
        Assert.True(chat["done"]!.GetValue<bool>());
        Assert.Equal("stop", Text(chat["doneReason"]));
        var call = Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == Chat);
        Assert.Equal(call.Messages.Sum(m => m.Content.Length), chat["promptEvalCount"]!.GetValue<int>());
        Assert.Equal(("echo: " + Chat).Length, chat["evalCount"]!.GetValue<int>());
        Assert.Contains(call.Messages, m => m is { Role: "system", Content: "Be brief." });
        Assert.True(chat["totalDuration"]!.GetValue<long>() > 0);
        Assert.True(DateTimeOffset.TryParse(Text(chat["createdAt"]), out _));
        var response = chat["responses"]![0]!;
        Assert.Equal("miss", Text(response["cache"]));
        Assert.Matches("^[0-9a-f]{32}$", Text(response["traceId"]));
    }

    [Fact]
    public async Task A_stream_arrives_in_several_chunks_that_join_into_the_answer()
    {
        var stream = await ScenarioAsync("stream");

        Assert.Null(stream["error"]);
        var parts = stream["parts"]!.AsArray().Select(Text).ToList();
        Assert.True(parts.Count >= 3, $"{parts.Count} chunks");
        Assert.Equal("echo: " + Stream, string.Concat(parts));
        Assert.Equal("stop", Text(stream["doneReason"]));
        Assert.Equal("", Text(stream["finalContent"]));
        Assert.Equal(("echo: " + Stream).Length, stream["evalCount"]!.GetValue<int>());
        Assert.Equal("application/x-ndjson", Text(stream["responses"]![0]!["contentType"]));
    }

    [Fact]
    public async Task An_image_reaches_the_backend()
    {
        var image = await ScenarioAsync("image");

        Assert.Equal("echo: " + Image, Text(image["content"]));
        var call = Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == Image);
        Assert.Equal(1, call.Images);
        Assert.Equal(OllamaDoorGateway.ImageModel, call.Model);
    }

    [Fact]
    public async Task Sampling_options_reach_the_backend_as_options()
    {
        var parameters = await ScenarioAsync("parameters");

        Assert.Equal("echo: " + Parameters, Text(parameters["content"]));
        var options = Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == Parameters).Options;
        Assert.NotNull(options);
        Assert.Equal(0.3, options["temperature"]!.GetValue<double>(), 6);
        Assert.Equal(0.8, options["top_p"]!.GetValue<double>(), 6);
        Assert.Equal(42, options["num_predict"]!.GetValue<int>());
        Assert.Equal(["END"], options["stop"]!.AsArray().Select(Text));
        Assert.Equal(7, options["seed"]!.GetValue<long>());
    }

    [Fact]
    public async Task The_same_chat_again_is_a_cache_hit_without_a_backend_call()
    {
        var cache = await ScenarioAsync("cache");

        Assert.Equal(["echo: " + Cache, "echo: " + Cache], cache["contents"]!.AsArray().Select(Text));
        Assert.Equal(["miss", "hit"], cache["responses"]!.AsArray().Select(r => Text(r!["cache"])));
        Assert.Equal(1, fixture.Ollama.CallsContaining(Cache));
    }

    [Fact]
    public async Task Twenty_identical_concurrent_chats_cost_one_backend_call()
    {
        var concurrent = await ScenarioAsync("concurrent");

        var contents = concurrent["contents"]!.AsArray().Select(Text).ToList();
        Assert.Equal(20, contents.Count);
        Assert.All(contents, c => Assert.Equal("echo: " + Concurrent, c));
        Assert.Equal(1, fixture.Ollama.CallsContaining(Concurrent));
    }

    [Fact]
    public async Task A_stream_cut_by_its_backend_raises_in_the_client_and_is_not_cached()
    {
        var cut = await ScenarioAsync("cut");

        var attempts = cut["attempts"]!.AsArray();
        Assert.Equal(2, attempts.Count);
        Assert.All(attempts, attempt =>
        {
            Assert.True(Text(attempt!["error"]?["name"]) == "Error", attempt.ToJsonString()); // raised from the stream, not an error status
            Assert.Contains("cut", Text(attempt["error"]!["message"]));
            Assert.NotEmpty(attempt["parts"]!.AsArray());
        });
        Assert.Equal(2, fixture.Ollama.CallsContaining(Cut)); // the second attempt was not answered from a cache
    }

    [Fact]
    public async Task Refusals_come_as_Ollamas_errors_with_their_status()
    {
        var results = await Results();

        Assert.Equal(404, results["unknownModel"]["error"]!["status"]!.GetValue<int>());
        Assert.Equal("model 'no-such-model' not found", Text(results["unknownModel"]["error"]!["message"]));
        Assert.Equal(400, results["outOfRange"]["error"]!["status"]!.GetValue<int>());
        Assert.Contains("options.temperature", Text(results["outOfRange"]["error"]!["message"]));
        Assert.Equal(401, results["noKey"]["error"]!["status"]!.GetValue<int>());
        Assert.Contains("API key", Text(results["noKey"]["error"]!["message"]));
        Assert.Equal(403, results["pull"]["error"]!["status"]!.GetValue<int>());
        Assert.Contains("does not manage models", Text(results["pull"]["error"]!["message"]));
        Assert.All(new[] { "unknownModel", "outOfRange", "noKey", "pull" },
            name => Assert.Matches("^[0-9a-f]{32}$", Text(results[name]["responses"]![0]!["traceId"])));
    }

    [Fact]
    public async Task Over_the_limit_is_429_with_Retry_After()
    {
        var limited = await ScenarioAsync("overLimit");

        Assert.Equal("echo: " + Limited, Text(limited["first"]));
        Assert.Equal(429, limited["error"]!["status"]!.GetValue<int>());
        var refused = limited["responses"]!.AsArray()[1]!;
        Assert.True(int.Parse(Text(refused["retryAfter"])!) > 0);
    }

    [Fact]
    public async Task Tags_list_every_catalog_model_and_generate_answers_a_prompt()
    {
        var results = await Results();

        var models = results["tags"]["models"]!.AsArray();
        Assert.Equal([OllamaDoorGateway.Model, OllamaDoorGateway.ImageModel, OllamaDoorGateway.GeminiModel, OllamaDoorGateway.ToolModel],
            models.Select(m => Text(m!["name"])));
        Assert.Equal(["ollama", "ollama", "gemini", "ollama"], models.Select(m => Text(m!["family"])));
        var generate = results["generate"];
        Assert.True(generate["error"] is null, generate.ToJsonString());
        Assert.Equal("echo: " + Generate, Text(generate["response"]));
        Assert.Equal("echo: " + Generate + " streamed", string.Concat(generate["parts"]!.AsArray().Select(Text)));
        var call = Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == Generate);
        Assert.Contains(call.Messages, m => m is { Role: "system", Content: "Answer in one line." });
        var about = results["about"];
        Assert.True(about["error"] is null, about.ToJsonString());
        Assert.Equal(["completion", "vision"], about["capabilities"]!.AsArray().Select(Text));
        Assert.Equal(0, about["running"]!.GetValue<int>());
    }
}
