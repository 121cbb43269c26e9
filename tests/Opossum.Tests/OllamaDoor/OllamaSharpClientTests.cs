using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Headers;
using OllamaSharp;
using OllamaSharp.Models;
using OllamaSharp.Models.Chat;
using OllamaSharp.Models.Exceptions;
using Opossum.Tests.Support;

namespace Opossum.Tests.OllamaDoor;

/// <summary>
/// OllamaSharp, unmodified, against the gateway's Ollama door as an app uses it against an Ollama server: an
/// <see cref="OllamaApiClient"/> over an <see cref="HttpClient"/> whose base address is the gateway and whose default
/// headers carry the key. A handler in the client's pipeline records the response headers the client does not expose.
/// </summary>
[Collection(OllamaDoorCollection.Name)]
public sealed class OllamaSharpClientTests(OllamaDoorGateway fixture)
{
    private readonly ConcurrentQueue<HttpResponseMessage> _responses = new();

    private OllamaApiClient Client(string? key = OllamaDoorGateway.SharpKey, GatewayHost? host = null)
    {
        var http = new HttpClient(new Recorder(_responses)) { BaseAddress = (host ?? fixture.Gateway).Http.BaseAddress, Timeout = TimeSpan.FromSeconds(60) };
        if (key is not null)
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return new OllamaApiClient(http, OllamaDoorGateway.Model);
    }

    private sealed class Recorder(ConcurrentQueue<HttpResponseMessage> responses) : DelegatingHandler(new SocketsHttpHandler())
    {
        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            responses.Enqueue(response);
            return response;
        }
    }

    private static string Unique(string what) => $"sharp {what} {Guid.NewGuid():N}";

    private static ChatRequest Ask(string message, bool stream = false, string model = OllamaDoorGateway.Model) =>
        new() { Model = model, Messages = [new Message(ChatRole.User, message)], Stream = stream };

    private static async Task<List<ChatResponseStream>> AllAsync(IAsyncEnumerable<ChatResponseStream?> stream)
    {
        var parts = new List<ChatResponseStream>();
        await foreach (var part in stream)
            parts.Add(part!);
        return parts;
    }

    [Fact]
    public async Task A_chat_answers_with_the_usage_the_backend_counted()
    {
        var message = Unique("chat");

        var answer = Assert.IsType<ChatDoneResponseStream>(Assert.Single(await AllAsync(Client().ChatAsync(Ask(message)))));

        Assert.Equal("echo: " + message, answer.Message.Content);
        Assert.Equal(ChatRole.Assistant, answer.Message.Role);
        Assert.Equal(OllamaDoorGateway.Model, answer.Model);
        Assert.True(answer.Done);
        Assert.Equal("stop", answer.DoneReason);
        var call = Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == message);
        Assert.Equal(call.Messages.Sum(m => m.Content.Length), answer.PromptEvalCount);
        Assert.Equal(("echo: " + message).Length, answer.EvalCount);
        Assert.True(answer.TotalDuration > 0);
        var response = Assert.Single(_responses);
        Assert.Equal("miss", response.Headers.GetValues("x-opossum-cache").Single());
        Assert.Equal("ollama", response.Headers.GetValues("x-opossum-backend").Single());
        Assert.Contains("gateway;dur=", response.Headers.GetValues("Server-Timing").Single());
    }

    [Fact]
    public async Task A_stream_arrives_in_several_chunks_that_join_into_the_answer()
    {
        var message = Unique("stream of several words");

        var parts = new List<ChatResponseStream>();
        await foreach (var part in Client().ChatAsync(Ask(message, stream: true)))
            parts.Add(part!);

        var text = parts.Where(p => !p.Done).Select(p => p.Message.Content).ToList();
        Assert.True(text.Count >= 3, $"{text.Count} chunks");
        Assert.Equal("echo: " + message, string.Concat(text));
        var done = Assert.IsType<ChatDoneResponseStream>(parts[^1]);
        Assert.Equal("stop", done.DoneReason);
        Assert.Equal(("echo: " + message).Length, done.EvalCount);
        Assert.Equal("application/x-ndjson", Assert.Single(_responses).Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task An_image_reaches_the_backend()
    {
        var message = Unique("image");
        var request = Ask(message, model: OllamaDoorGateway.ImageModel);
        request.Messages!.Single().Images = [Convert.ToBase64String(Images.Png)];

        var answer = Assert.Single(await AllAsync(Client().ChatAsync(request)));

        Assert.Equal("echo: " + message, answer.Message.Content);
        Assert.Equal(1, Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == message).Images);
    }

    [Fact]
    public async Task Sampling_options_reach_the_backend_as_options()
    {
        var message = Unique("parameters");
        var request = Ask(message);
        request.Options = new RequestOptions { Temperature = 0.3f, TopP = 0.8f, NumPredict = 42, Stop = ["END"], Seed = 7, TopK = 20 };

        var answer = Assert.Single(await AllAsync(Client().ChatAsync(request)));

        // The backend stops at num_predict tokens (the loopback Ollama counts a character as one).
        Assert.Equal(("echo: " + message)[..42], answer.Message.Content);
        var options = Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == message).Options;
        Assert.NotNull(options);
        Assert.Equal(0.3, options["temperature"]!.GetValue<double>(), 6);
        Assert.Equal(0.8, options["top_p"]!.GetValue<double>(), 6);
        Assert.Equal(42, options["num_predict"]!.GetValue<int>());
        Assert.Equal(["END"], options["stop"]!.AsArray().Select(s => s!.GetValue<string>()));
        Assert.Equal(7, options["seed"]!.GetValue<long>());
    }

    [Fact]
    public async Task The_same_chat_again_is_a_cache_hit_without_a_backend_call()
    {
        var message = Unique("cache");
        var client = Client();

        var first = Assert.Single(await AllAsync(client.ChatAsync(Ask(message))));
        var second = Assert.Single(await AllAsync(client.ChatAsync(Ask(message))));

        Assert.Equal(first.Message.Content, second.Message.Content);
        Assert.Equal(["miss", "hit"], _responses.Select(r => r.Headers.GetValues("x-opossum-cache").Single()));
        Assert.Equal(1, fixture.Ollama.CallsContaining(message));
    }

    [Fact]
    public async Task Twenty_identical_concurrent_chats_cost_one_backend_call()
    {
        var message = Unique("concurrent");
        fixture.Ollama.Delays[message] = TimeSpan.FromSeconds(1); // long enough for all 20 to be in flight together
        var client = Client();

        var answers = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => AllAsync(client.ChatAsync(Ask(message)))));

        Assert.All(answers, a => Assert.Equal("echo: " + message, Assert.Single(a).Message.Content));
        Assert.Equal(1, fixture.Ollama.CallsContaining(message));
        Assert.Equal(19, _responses.Count(r => r.Headers.GetValues("x-opossum-cache").Single() is "joined" or "hit"));
    }

    [Fact]
    public async Task A_stream_cut_by_its_backend_raises_in_the_client_and_is_not_cached()
    {
        var message = Unique("cut");
        fixture.Ollama.CutAfterChunks[message] = 2;

        for (var attempt = 1; attempt <= 2; attempt++)
        {
            var parts = new List<ChatResponseStream?>();
            // OllamaSharp reads no error lines: it raises because the response ends before HTTP's end of body.
            await Assert.ThrowsAnyAsync<IOException>(async () =>
            {
                await foreach (var part in Client().ChatAsync(Ask(message, stream: true)))
                    parts.Add(part);
            });
            Assert.NotEmpty(parts); // raised from the stream, after its first chunks
        }
        Assert.Equal(2, fixture.Ollama.CallsContaining(message)); // the second attempt was not answered from a cache
    }

    [Fact]
    public async Task Refusals_come_with_their_status()
    {
        var unknown = await Assert.ThrowsAsync<HttpRequestException>(() => AllAsync(Client().ChatAsync(Ask("hello", model: "no-such-model"))));
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        var outOfRange = Ask("hello");
        outOfRange.Options = new RequestOptions { Temperature = 5 };
        var badInput = await Assert.ThrowsAsync<OllamaException>(() => AllAsync(Client().ChatAsync(outOfRange)));
        Assert.Contains("options.temperature", badInput.Message);

        var noKey = await Assert.ThrowsAsync<HttpRequestException>(() => AllAsync(Client(key: null).ChatAsync(Ask("hello"))));
        Assert.Equal(HttpStatusCode.Unauthorized, noKey.StatusCode);

        var pull = await Assert.ThrowsAsync<HttpRequestException>(async () =>
        {
            await foreach (var _ in Client().PullModelAsync(new PullModelRequest { Model = "llama3.2" })) { }
        });
        Assert.Equal(HttpStatusCode.Forbidden, pull.StatusCode);
        Assert.Equal(0, fixture.Ollama.CallsContaining("hello"));
        Assert.All(_responses, r => Assert.Matches("^[0-9a-f]{32}$", r.Headers.GetValues("x-opossum-trace-id").Single()));
    }

    [Fact]
    public async Task Over_the_limit_is_429_with_Retry_After()
    {
        var client = Client(OllamaDoorGateway.LimitedSharpKey, fixture.Limited);

        Assert.Single(await AllAsync(client.ChatAsync(Ask(Unique("limited")))));
        var refused = await Assert.ThrowsAsync<HttpRequestException>(() => AllAsync(client.ChatAsync(Ask(Unique("limited")))));

        Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
        Assert.True(_responses.Last().Headers.RetryAfter?.Delta > TimeSpan.Zero);
    }

    [Fact]
    public async Task Tags_list_every_catalog_model_and_generate_answers_a_prompt()
    {
        var client = Client();

        var models = (await client.ListLocalModelsAsync()).ToList();
        Assert.Equal([OllamaDoorGateway.Model, OllamaDoorGateway.ImageModel, OllamaDoorGateway.GeminiModel, OllamaDoorGateway.ToolModel], models.Select(m => m.Name));
        Assert.Equal(["ollama", "ollama", "gemini", "ollama"], models.Select(m => m.Details.Family));

        var prompt = Unique("generate");
        var generated = new List<GenerateResponseStream?>();
        await foreach (var part in client.GenerateAsync(new GenerateRequest { Model = OllamaDoorGateway.Model, Prompt = prompt, System = "Answer in one line." }))
            generated.Add(part);
        Assert.Equal("echo: " + prompt, string.Concat(generated.Select(p => p!.Response)));
        var done = Assert.IsType<GenerateDoneResponseStream>(generated[^1]);
        Assert.Equal(("echo: " + prompt).Length, done.EvalCount);
        var call = Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == prompt);
        Assert.Contains(call.Messages, m => m is { Role: "system", Content: "Answer in one line." });

        Assert.False(string.IsNullOrEmpty(await client.GetVersionAsync()));
        Assert.Empty(await client.ListRunningModelsAsync());
        var shown = await client.ShowModelAsync(OllamaDoorGateway.ImageModel);
        Assert.Contains("vision", shown.Capabilities ?? []);
    }
}
