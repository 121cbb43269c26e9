using System.ClientModel;
using System.ClientModel.Primitives;
using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using Microsoft.Extensions.AI;
using OpenAI;
using Opossum.Tests.Protection;
using Opossum.Tests.Support;

namespace Opossum.Tests.OpenAI;

/// <summary>
/// The OpenAI .NET SDK, unmodified, as most .NET apps use it: through <c>Microsoft.Extensions.AI</c>'s <see cref="IChatClient"/>,
/// pointed at the gateway's OpenAI door. Its HTTP client only records the response headers it receives.
/// </summary>
[Collection(OpenAICollection.Name)]
public sealed class OpenAIDotNetClientTests(OpenAIGateway fixture) : IDisposable
{
    // The gateway's tracer shares this process: a client span would become the root of its traces, which a remote client's would not.
    private readonly IDisposable _untraced = OpenTelemetry.SuppressInstrumentationScope.Begin();
    private readonly HeaderRecorder _headers = new();

    public void Dispose() => _untraced.Dispose();

    private static string Unique(string what) => $"dotnet {what} {Guid.NewGuid():N} please answer in several words";

    private IChatClient Client(string model = OpenAIGateway.Model, string key = OpenAIGateway.Key, Uri? baseUrl = null) =>
        new global::OpenAI.Chat.ChatClient(model, new ApiKeyCredential(key), new OpenAIClientOptions
        {
            Endpoint = baseUrl ?? fixture.BaseUrl,
            Transport = new HttpClientPipelineTransport(new HttpClient(_headers)),
            RetryPolicy = new ClientRetryPolicy(maxRetries: 0),
        }).AsIChatClient();

    private static async Task<(int Status, JsonNode Error, ClientResultException Exception)> RefusedAsync(Func<Task> call)
    {
        var refused = await Assert.ThrowsAsync<ClientResultException>(call);
        var body = JsonNode.Parse(refused.GetRawResponse()!.Content.ToString())!;
        return (refused.Status, body["error"]!, refused);
    }

    private ChatCall Call(string prompt) => Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == prompt);

    [Fact]
    public async Task A_chat_gets_the_answer_its_finish_reason_and_usage()
    {
        var prompt = Unique("chat");

        var response = await Client().GetResponseAsync([new(ChatRole.System, "Answer briefly."), new(ChatRole.User, prompt)]);

        Assert.Equal("echo: " + prompt, response.Text);
        Assert.Equal(ChatFinishReason.Stop, response.FinishReason);
        Assert.StartsWith("chatcmpl-", response.ResponseId);
        Assert.Equal(OpenAIGateway.Model, response.ModelId);
        var backend = Call(prompt);
        Assert.Equal(backend.Messages.Sum(m => m.Content.Length), response.Usage!.InputTokenCount); // the loopback Ollama counts characters
        Assert.Equal(("echo: " + prompt).Length, response.Usage.OutputTokenCount);
        Assert.Equal(response.Usage.InputTokenCount + response.Usage.OutputTokenCount, response.Usage.TotalTokenCount);
        Assert.Equal(new FakeMessage("system", "Answer briefly."), backend.Messages[0]);
        var headers = Assert.Single(_headers.Seen);
        Assert.Equal("miss", headers["x-opossum-cache"]);
        Assert.Equal("ollama", headers["x-opossum-backend"]);
        Assert.Matches("^[0-9a-f]{32}$", headers["x-opossum-trace-id"]);
    }

    [Fact]
    public async Task A_stream_is_read_update_by_update_and_ends_with_the_finish_reason_and_usage()
    {
        var prompt = Unique("stream");

        var updates = new List<ChatResponseUpdate>();
        await foreach (var update in Client().GetStreamingResponseAsync(prompt))
            updates.Add(update);

        var texts = updates.Where(u => u.Text.Length > 0).Select(u => u.Text).ToList();
        Assert.True(texts.Count >= 3, $"{texts.Count} text updates: {string.Join(" | ", texts)}");
        Assert.Equal("echo: " + prompt, string.Concat(texts));
        Assert.Equal(ChatFinishReason.Stop, updates.Last(u => u.FinishReason is not null).FinishReason);
        var usage = Assert.Single(updates.SelectMany(u => u.Contents).OfType<UsageContent>());
        Assert.Equal(("echo: " + prompt).Length, usage.Details.OutputTokenCount);
        Assert.True(Call(prompt).Streamed);
    }

    [Fact]
    public async Task An_image_as_data_reaches_the_backend_and_an_image_URL_is_refused_naming_the_part()
    {
        var prompt = Unique("image");

        var response = await Client().GetResponseAsync(new ChatMessage(ChatRole.User, [new TextContent(prompt), new DataContent(Images.Png, "image/png")]));
        var (status, error, _) = await RefusedAsync(() => Client().GetResponseAsync(
            new ChatMessage(ChatRole.User, [new TextContent(prompt), new UriContent("https://example.com/cat.png", "image/png")])));

        Assert.Equal("echo: " + prompt, response.Text);
        Assert.Equal(1, Call(prompt).Images);
        Assert.Equal(400, status);
        Assert.Equal("messages[0].content[1].image_url", error["param"]!.GetValue<string>());
    }

    [Fact]
    public async Task Sampling_options_reach_the_backend_as_Ollama_options()
    {
        var prompt = Unique("options");

        await Client().GetResponseAsync(prompt, new ChatOptions { Temperature = 0.3f, TopP = 0.9f, MaxOutputTokens = 50, StopSequences = ["END"], Seed = 42 });

        var options = Call(prompt).Options!;
        Assert.Equal(0.3, options["temperature"]!.GetValue<double>());
        Assert.Equal(0.9, options["top_p"]!.GetValue<double>());
        Assert.Equal(50, options["num_predict"]!.GetValue<int>());
        Assert.Equal(["END"], options["stop"]!.AsArray().Select(s => s!.GetValue<string>()));
        Assert.Equal(42, options["seed"]!.GetValue<long>());
    }

    [Fact]
    public async Task Refusals_are_ClientResultExceptions_with_the_status_and_OpenAIs_error_object()
    {
        var unknown = await RefusedAsync(() => Client(model: "no-such-model").GetResponseAsync("hello"));
        var range = await RefusedAsync(() => Client().GetResponseAsync("hello", new ChatOptions { Temperature = 3 }));
        var key = await RefusedAsync(() => Client(key: "not-a-key").GetResponseAsync("hello"));

        Assert.Equal((404, "model_not_found"), (unknown.Status, unknown.Error["code"]!.GetValue<string>()));
        Assert.Equal((400, "temperature", "invalid_request_error"),
            (range.Status, range.Error["param"]!.GetValue<string>(), range.Error["type"]!.GetValue<string>()));
        Assert.Contains("between 0 and 2", range.Error["message"]!.GetValue<string>());
        Assert.Equal((401, "invalid_api_key"), (key.Status, key.Error["code"]!.GetValue<string>()));
    }

    [Fact]
    public async Task Over_the_chat_limit_the_client_gets_429_with_Retry_After()
    {
        var client = Client(key: ProtectedGateway.Erin, baseUrl: fixture.LimitedBaseUrl);
        for (var i = 0; i < ProtectedGateway.ChatsPerMinute; i++)
            await client.GetResponseAsync(Unique("within the limit"));

        var (status, error, refused) = await RefusedAsync(() => client.GetResponseAsync(Unique("over the limit")));

        Assert.Equal(429, status);
        Assert.Equal(("rate_limit_error", "rate_limit_exceeded"), (error["type"]!.GetValue<string>(), error["code"]!.GetValue<string>()));
        Assert.True(refused.GetRawResponse()!.Headers.TryGetValue("Retry-After", out var retryAfter));
        Assert.Equal("50", retryAfter); // the clock stands at 12:00:10
    }

    [Fact]
    public async Task Identical_requests_cost_one_generation_cached_or_joined()
    {
        var cached = Unique("cache");
        var crowd = Unique("crowd");
        fixture.Ollama.Delays[crowd] = TimeSpan.FromMilliseconds(500); // the 20 arrive while the first is generated

        var first = await Client().GetResponseAsync(cached);
        var second = await Client().GetResponseAsync(cached);
        var seen = _headers.Seen.Select(h => h["x-opossum-cache"]).ToList();
        var all = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Client().GetResponseAsync(crowd)));

        Assert.Equal(first.Text, second.Text);
        Assert.Equal(["miss", "hit"], seen);
        Assert.Single(fixture.Ollama.Calls, c => c.LastUserMessage == cached);
        Assert.All(all, r => Assert.Equal("echo: " + crowd, r.Text));
        Assert.Equal(1, fixture.Ollama.CallsContaining(crowd));
    }

    [Fact]
    public async Task A_stream_cut_by_its_backend_raises_in_the_client_and_is_not_cached()
    {
        var prompt = Unique("cut");
        fixture.Ollama.CutAfterChunks[prompt] = 2;

        for (var attempt = 1; attempt <= 2; attempt++)
        {
            var texts = new List<string>();
            var raised = await Record.ExceptionAsync(async () =>
            {
                await foreach (var update in Client().GetStreamingResponseAsync(prompt))
                    texts.Add(update.Text);
            });

            Assert.NotNull(raised);
            Assert.Equal("echo: dotnet ", string.Concat(texts)); // the two chunks written before the cut
            Assert.Equal(attempt, fixture.Ollama.CallsContaining(prompt)); // nothing cached: the same request reaches the backend again
        }
    }

    [Fact]
    public async Task The_function_invoking_chat_client_calls_a_CSharp_function_and_answers_with_its_result()
    {
        var prompt = Unique("function");
        fixture.Ollama.ToolArguments["get_local_time"] = """{"city":"Tromso"}""";
        var asked = new ConcurrentQueue<string>();
        var localTime = AIFunctionFactory.Create((string city) =>
        {
            asked.Enqueue(city);
            return $"14:05 in {city}";
        }, "get_local_time", "The local time in a city.");
        using var client = new ChatClientBuilder(Client(OpenAIGateway.ToolModel)).UseFunctionInvocation().Build();

        var response = await client.GetResponseAsync(prompt, new ChatOptions { Tools = [localTime] });

        Assert.Equal(["Tromso"], asked);
        Assert.StartsWith("echo: ", response.Text); // the loopback Ollama echoes the tool's result it was sent
        Assert.Contains("14:05 in Tromso", response.Text);
        var call = Assert.Single(response.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_local_time", call.Name);
        var backend = fixture.Ollama.Calls.Where(c => c.LastUserMessage == prompt).ToList();
        Assert.Equal(2, backend.Count);
        Assert.Equal("get_local_time", Assert.Single(backend[0].Tools!)!["function"]!["name"]!.GetValue<string>());
        var result = backend[1].Messages[^1];
        Assert.Equal(("tool", "get_local_time"), (result.Role, result.ToolName));
        Assert.Contains("14:05 in Tromso", result.Content);
    }

    [Fact]
    public async Task Streamed_the_function_invoking_chat_client_joins_the_call_from_its_fragments_and_streams_the_answer()
    {
        var prompt = Unique("streamed function");
        fixture.Ollama.ToolArguments["get_tide"] = """{"harbour":"Bodo"}""";
        var asked = new ConcurrentQueue<string>();
        var tide = AIFunctionFactory.Create((string harbour) =>
        {
            asked.Enqueue(harbour);
            return $"high tide at 09:12 in {harbour}";
        }, "get_tide", "The next high tide in a harbour.");
        using var client = new ChatClientBuilder(Client(OpenAIGateway.ToolModel)).UseFunctionInvocation().Build();

        var texts = new List<string>();
        await foreach (var update in client.GetStreamingResponseAsync(prompt, new ChatOptions { Tools = [tide] }))
            texts.Add(update.Text);

        Assert.Equal(["Bodo"], asked);
        Assert.StartsWith("echo: ", string.Concat(texts));
        Assert.Contains("high tide at 09:12 in Bodo", string.Concat(texts));
        Assert.All(fixture.Ollama.Calls.Where(c => c.LastUserMessage == prompt), c => Assert.True(c.Streamed));
    }

    /// <summary>Passes every request on unchanged and keeps the headers of each response.</summary>
    private sealed class HeaderRecorder() : DelegatingHandler(new HttpClientHandler())
    {
        private readonly ConcurrentQueue<Dictionary<string, string>> _seen = new();

        public IReadOnlyList<Dictionary<string, string>> Seen => _seen.ToArray();

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            _seen.Enqueue(response.Headers.ToDictionary(h => h.Key.ToLowerInvariant(), h => string.Join(",", h.Value)));
            return response;
        }
    }
}
