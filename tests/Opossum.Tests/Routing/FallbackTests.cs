using System.Net;
using Opossum.Grains;
using Opossum.Tests.Support;

namespace Opossum.Tests.Routing;

[Collection(RoutingCollection.Name)]
public sealed class FallbackTests(RoutingFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => fixture.ResetAsync();
    public Task DisposeAsync() => fixture.ResetAsync();

    private static string Unique(string text) => $"{text} {Guid.NewGuid():N}";

    [Fact]
    public async Task The_default_route_is_gemini()
    {
        var prompt = Unique("hello");

        var reply = await fixture.ChatAsync(prompt);

        Assert.Equal("gemini", reply.Backend);
        Assert.Equal(RoutingFixture.Gemini, reply.Model);
        Assert.Equal("gemini: " + prompt, reply.Message);
        Assert.Equal(12, reply.TokensUsed);
        Assert.Null(reply.FallbackReason);
        Assert.Equal("gemini-2.0-flash", fixture.GeminiServer.Calls.Single(c => c.LastUserText == prompt).Model);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_rate_limited_gemini_is_left_alone_for_its_retry_delay_without_counting_as_broken(bool header)
    {
        var prompt = Unique("over quota");
        fixture.GeminiServer.Behaviours[prompt] = new(GeminiFailure.RateLimited) { RetryAfter = TimeSpan.FromSeconds(20), RetryAfterHeader = header };

        var limited = await fixture.ChatAsync(prompt);

        Assert.Equal("ollama", limited.Backend);
        Assert.Contains("HTTP 429 RESOURCE_EXHAUSTED", limited.FallbackReason);
        Assert.Contains("retry after 20 s", limited.FallbackReason);
        var health = await fixture.Service("gemini").GetHealth();
        Assert.Equal(0, health.ConsecutiveFailures);          // not a broken service: no circuit counting
        Assert.True(health.Available);
        Assert.NotNull(Assert.Single(health.Servers!).ThrottledUntil);

        // Within the delay Gemini gets no traffic at all; after it, it does again.
        var during = Unique("during the delay");
        fixture.Clock.Advance(TimeSpan.FromSeconds(10));
        var waited = await fixture.ChatAsync(during);
        Assert.Equal("ollama", waited.Backend);
        Assert.Contains("rate-limiting", waited.FallbackReason);
        Assert.Equal(0, fixture.GeminiServer.CallsContaining(during));

        fixture.Clock.Advance(TimeSpan.FromSeconds(11));
        var after = Unique("after the delay");
        var back = await fixture.ChatAsync(after);
        Assert.Equal("gemini", back.Backend);
        Assert.Null(Assert.Single((await fixture.Service("gemini").GetHealth()).Servers!).ThrottledUntil);
    }

    [Fact]
    public async Task A_failing_gemini_falls_back_to_ollama_and_the_reply_says_why()
    {
        var prompt = Unique("overloaded");
        fixture.GeminiServer.Behaviours[prompt] = new(GeminiFailure.ServerError);

        var reply = await fixture.ChatAsync(prompt);

        Assert.Equal("ollama", reply.Backend);
        Assert.Equal(RoutingFixture.Gemma, reply.Model);
        Assert.Contains("gemini-thinking (gemini)", reply.FallbackReason);
        Assert.Contains("HTTP 503", reply.FallbackReason);
        Assert.Equal(1, fixture.GeminiServer.CallsContaining(prompt));
        Assert.Equal(1, fixture.Ollama.CallsContaining(prompt));
    }

    [Fact]
    public async Task A_named_model_whose_service_is_offline_falls_back_without_calling_it()
    {
        fixture.GeminiServer.ModelsStatus = HttpStatusCode.ServiceUnavailable;
        for (var i = 0; i < 3; i++)
            await fixture.Service("gemini").Check();
        var prompt = Unique("named");

        var reply = await fixture.ChatAsync(prompt, model: RoutingFixture.Gemini);

        Assert.Equal(RoutingFixture.Gemma, reply.Model);
        Assert.Contains("OFFLINE", reply.FallbackReason);
        Assert.Equal(0, fixture.GeminiServer.CallsContaining(prompt));
    }

    [Fact]
    public async Task When_nothing_answers_the_error_lists_each_model_tried_and_why()
    {
        var prompt = Unique("doomed");
        fixture.GeminiServer.Behaviours[prompt] = new(GeminiFailure.ServerError);
        fixture.Ollama.Failures[prompt] = (HttpStatusCode.InternalServerError, "GPU on fire");

        var error = await Assert.ThrowsAsync<OpossumException>(() => fixture.ChatAsync(prompt));

        Assert.Equal(ErrorCodes.BackendUnavailable, error.Code);
        Assert.Contains("gemini-thinking (gemini): Backend 'gemini' failed: HTTP 503", error.Message);
        Assert.Contains("gemma3:1b (ollama): Backend 'ollama' failed: HTTP 500: GPU on fire", error.Message);
        Assert.Contains("llava (ollama)", error.Message);
        Assert.Equal(1, fixture.GeminiServer.CallsContaining(prompt));
        Assert.Equal(2, fixture.Ollama.CallsContaining(prompt)); // at most two fallbacks: three models in all
    }

    [Fact]
    public async Task A_backend_that_does_not_answer_in_time_is_left_for_the_next_model()
    {
        var prompt = Unique("slow ollama");
        fixture.Ollama.Delays[prompt] = TimeSpan.FromSeconds(10);
        try
        {
            var reply = await fixture.ChatAsync(prompt, model: RoutingFixture.Gemma);

            Assert.Equal("gemini", reply.Backend);
            Assert.Contains($"no answer within {RoutingFixture.OllamaTimeout.TotalSeconds:0} s", reply.FallbackReason);
        }
        finally
        {
            fixture.Ollama.Delays.TryRemove(prompt, out _);
        }
    }

    [Fact]
    public async Task Gemini_empty_candidates_and_blocked_prompts_are_typed_failures_that_do_not_trip_the_circuit()
    {
        var empty = Unique("empty");
        var blocked = Unique("blocked");
        fixture.GeminiServer.Behaviours[empty] = new(GeminiFailure.EmptyCandidates);
        fixture.GeminiServer.Behaviours[blocked] = new(GeminiFailure.Blocked);

        var first = await fixture.ChatAsync(empty);
        var second = await fixture.ChatAsync(blocked);
        var third = await fixture.ChatAsync(Unique("blocked again") + blocked);
        var fourth = await fixture.ChatAsync(Unique("and again") + blocked);

        Assert.Contains("no candidates", first.FallbackReason);
        Assert.Contains("the prompt was blocked (SAFETY)", second.FallbackReason);
        Assert.All(new[] { first, second, third, fourth }, r => Assert.Equal("ollama", r.Backend));
        var gemini = await fixture.Service("gemini").GetHealth();
        Assert.Equal(ServiceState.Online, gemini.State);
        Assert.Equal(0, gemini.ConsecutiveFailures);
    }

    [Fact]
    public async Task The_gemini_key_travels_only_in_the_header()
    {
        await fixture.ChatAsync(Unique("key check"));
        await fixture.Service("gemini").Check();

        Assert.NotEmpty(fixture.GeminiServer.RequestTargets);
        Assert.DoesNotContain(fixture.GeminiServer.RequestTargets, t => t.Contains(FakeGemini.ApiKey) || t.Contains("key="));
    }
}
