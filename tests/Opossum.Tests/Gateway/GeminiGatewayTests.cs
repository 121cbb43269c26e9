using System.Diagnostics;
using System.Net;
using Opossum.Tests.Support;

namespace Opossum.Tests.Gateway;

public sealed class GeminiGatewayTests(GeminiGatewayFixture fixture) : IClassFixture<GeminiGatewayFixture>
{
    private GatewayHost Gateway => fixture.Gateway;

    private static string Base64(byte[] data) => Convert.ToBase64String(data);

    [Fact]
    public async Task Sixty_four_clients_reach_gemini_at_once_with_the_default_settings()
    {
        // A cloud API takes many requests at once: nothing between the clients and it holds them to a few.
        var tag = $"capacity {Guid.NewGuid():N}";
        // Each call is answered once all 64 are at the API (at most 30 s): only a gateway that holds some back keeps them apart.
        fixture.Gemini.Behaviours[tag] = new(GeminiFailure.None, Delay: TimeSpan.FromSeconds(30)) { HoldUntilCalls = 64 };

        var replies = await Task.WhenAll(Enumerable.Range(0, 64).Select(i => Gateway.ChatAsync(new { message = $"{tag} #{i}", model = "gemini-thinking" })));

        Assert.All(replies, r => Assert.Equal("gemini", r.Data!["chat"]!["backendUsed"]!.GetValue<string>()));
        Assert.Equal(64, fixture.Gemini.CallsContaining(tag));
        Assert.Equal(64, fixture.Gemini.MaxInFlight);
    }

    [Fact]
    public async Task An_image_chat_is_answered_by_gemini()
    {
        var prompt = $"what is this {Guid.NewGuid():N}";

        var result = await Gateway.ChatAsync(new { message = prompt, imageBase64 = Base64(Images.Png) });

        Assert.Empty(result.Errors);
        Assert.Equal("gemini", result.Data!["chat"]!["backendUsed"]!.GetValue<string>());
        Assert.Equal(["image/png"], fixture.Gemini.Calls.Single(c => c.LastUserText == prompt).ImageTypes);
    }

    [Fact]
    public async Task A_data_url_is_accepted_and_the_type_comes_from_the_bytes()
    {
        var prompt = $"data url {Guid.NewGuid():N}";

        var result = await Gateway.ChatAsync(new { message = prompt, imageBase64 = "data:image/png;base64," + Base64(Images.Jpeg) });

        Assert.Empty(result.Errors);
        Assert.Equal(["image/jpeg"], fixture.Gemini.Calls.Single(c => c.LastUserText == prompt).ImageTypes);
    }

    [Theory]
    [InlineData("not base64 at all!", "not valid base64")]
    [InlineData("R0lGODlhAQABAAAAADs=", "JPEG or PNG")]
    public async Task A_bad_image_is_bad_user_input(string image, string reason)
    {
        var result = await Gateway.ChatAsync(new { message = "look", imageBase64 = image });

        ChatErrorTests.AssertError(result, "BAD_USER_INPUT", reason);
    }

    [Fact]
    public async Task An_image_over_4_MiB_is_bad_user_input()
    {
        var big = new byte[4 * 1024 * 1024 + 1];
        Images.Png.CopyTo(big, 0);

        var result = await Gateway.ChatAsync(new { message = "look", imageBase64 = Base64(big) });

        ChatErrorTests.AssertError(result, "BAD_USER_INPUT", "4 MiB");
        RepositoryDocs.AssertStates("docs/contracts.md", $"over {Opossum.Gateway.Chat.ImageInput.MaxBytes / (1024 * 1024)} MiB decoded");
    }

    [Fact]
    public async Task A_fallback_is_visible_in_the_response()
    {
        var prompt = $"fallback over http {Guid.NewGuid():N}";
        fixture.Gemini.Behaviours[prompt] = new(GeminiFailure.ServerError);

        var result = await Gateway.PostAsync(
            "mutation($m: String!) { chat(input: {message: $m}) { backendUsed modelUsed fallbackReason } }", new { m = prompt });

        var chat = result.Data!["chat"]!;
        Assert.Equal("ollama", chat["backendUsed"]!.GetValue<string>());
        Assert.Contains("gemini-thinking (gemini)", chat["fallbackReason"]!.GetValue<string>());
    }

    [Fact]
    public async Task Neither_the_gemini_key_nor_prompt_text_appears_in_any_span_or_log_line()
    {
        string[] prompts = [$"key leak ok {Guid.NewGuid():N}", $"key leak 503 {Guid.NewGuid():N}", $"key leak image {Guid.NewGuid():N}", $"key leak ollama {Guid.NewGuid():N}"];
        fixture.Gemini.Behaviours["key leak 503"] = new(GeminiFailure.ServerError);
        fixture.Ollama.Failures["key leak 503"] = (HttpStatusCode.InternalServerError, "failed too");
        await Gateway.ChatAsync(new { message = prompts[0] });
        await Gateway.ChatAsync(new { message = prompts[1] });
        await Gateway.PostAsync("mutation { forceServiceCheck(service: \"gemini\") { state } }");
        await Gateway.ChatAsync(new { message = prompts[2], imageBase64 = Base64(Images.Png) });
        await Gateway.ChatAsync(new { message = prompts[3], model = "gemma3:1b" });

        var spans = Gateway.Spans.Snapshot();
        Assert.Contains(spans, s => s.DisplayName == "gemini.generate");
        var spanText = spans.SelectMany(s => s.TagObjects.Select(t => $"{t.Key}={t.Value}")
            .Concat(s.Events.SelectMany(e => e.Tags.Select(t => $"{e.Name} {t.Key}={t.Value}")))
            .Append(s.StatusDescription ?? "").Append(s.DisplayName));
        Assert.DoesNotContain(spanText, t => t.Contains(FakeGemini.ApiKey));
        Assert.DoesNotContain(spanText, t => prompts.Any(p => t.Contains(p)));
        Assert.NotEmpty(fixture.Gateway.Logs.Lines);
        Assert.DoesNotContain(fixture.Gateway.Logs.Lines, l => l.Contains(FakeGemini.ApiKey));
        Assert.DoesNotContain(fixture.Gateway.Logs.Lines, l => prompts.Any(p => l.Contains(p)));
        Assert.Contains(fixture.Gateway.Logs.Lines, l => l.Contains("x-goog-api-key")); // the header was logged, its value redacted
    }

    [Fact]
    public async Task Both_services_are_monitored()
    {
        var result = await Gateway.PostAsync("{ services { name state } serviceStatus { geminiAvailable ollamaAvailable allServicesAvailable } }");

        Assert.Equal(["gemini", "ollama"], result.Data!["services"]!.AsArray().Select(s => s!["name"]!.GetValue<string>()).Order());
        Assert.True(result.Data!["serviceStatus"]!["geminiAvailable"]!.GetValue<bool>());
        Assert.True(result.Data!["serviceStatus"]!["allServicesAvailable"]!.GetValue<bool>());
    }
}

/// <summary>Gemini configured as a model but no key: disabled, said so, and requests go to Ollama.</summary>
public sealed class GeminiDisabledTests : IAsyncLifetime
{
    private FakeOllama _ollama = null!;
    private GatewayHost _gateway = null!;

    public async Task InitializeAsync()
    {
        _ollama = await FakeOllama.StartAsync();
        _gateway = await GatewayHost.StartAsync(_ollama.BaseUrl, new Dictionary<string, string?>
        {
            ["Models:0:Name"] = "gemini-thinking",
            ["Models:0:Backend"] = "gemini",
            ["Models:1:Name"] = "gemma3:1b",
            ["Models:1:Backend"] = "ollama",
        });
    }

    public async Task DisposeAsync()
    {
        await _gateway.DisposeAsync();
        await _ollama.DisposeAsync();
    }

    [Fact]
    public async Task Gemini_is_reported_disabled_and_chats_default_to_ollama()
    {
        var services = await _gateway.PostAsync("mutation { forceServiceCheck(service: \"gemini\") { name state lastError } }");
        var chat = await _gateway.ChatAsync(new { message = "hello without gemini" });
        var named = await _gateway.PostAsync("mutation { chat(input: {message: \"named\", model: \"gemini-thinking\"}) { backendUsed fallbackReason } }");

        var gemini = services.Data!["forceServiceCheck"]![0]!;
        Assert.Equal("OFFLINE", gemini["state"]!.GetValue<string>());
        Assert.Equal("disabled: GEMINI_API_KEY is not set", gemini["lastError"]!.GetValue<string>());
        Assert.Equal("ollama", chat.Data!["chat"]!["backendUsed"]!.GetValue<string>());
        Assert.Equal("ollama", named.Data!["chat"]!["backendUsed"]!.GetValue<string>());
        Assert.Contains("GEMINI_API_KEY is not set", named.Data!["chat"]!["fallbackReason"]!.GetValue<string>());
    }
}
