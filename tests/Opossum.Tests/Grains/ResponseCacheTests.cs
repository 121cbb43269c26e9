using System.Net;
using Opossum.Grains;
using Opossum.Tests.Support;

namespace Opossum.Tests.Grains;

[Collection(ClusterCollection.Name)]
public sealed class ResponseCacheTests(ClusterFixture fixture)
{
    private Task<ChatReply> NewChat(string message, bool noCache = false) =>
        fixture.Grains.GetGrain<IConversationGrain>(Guid.NewGuid().ToString("N")).Chat(new ChatCommand(message, null, noCache, true));

    [Fact]
    public async Task A_repeated_prompt_is_answered_from_the_cache()
    {
        var prompt = $"what is an opossum? {Guid.NewGuid()}";
        var before = await fixture.Grains.GetGrain<ICacheStatsGrain>(0).Get();

        var first = await NewChat(prompt);
        var second = await NewChat(prompt);

        Assert.False(first.Cached);
        Assert.True(second.Cached);
        Assert.Equal(first.Message, second.Message);
        Assert.Equal(1, fixture.Ollama.CallsContaining(prompt));
        var after = await WaitForCountsAsync(before.Hits + 1, before.Misses + 1);
        Assert.True(after.Hits >= before.Hits + 1 && after.Misses >= before.Misses + 1, $"before {before}, after {after}");
    }

    [Fact]
    public async Task Twenty_concurrent_identical_chats_call_the_backend_once()
    {
        var prompt = $"coalesce me {Guid.NewGuid()}";
        fixture.Ollama.Delays[prompt] = TimeSpan.FromMilliseconds(500);

        var replies = await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => NewChat(prompt)));

        Assert.Equal(1, fixture.Ollama.CallsContaining(prompt));
        Assert.Single(replies, r => !r.Cached);
        Assert.All(replies, r => Assert.Equal("echo: " + prompt, r.Message));
    }

    [Fact]
    public async Task NoCache_goes_to_the_backend_every_time()
    {
        var prompt = $"fresh please {Guid.NewGuid()}";

        var first = await NewChat(prompt, noCache: true);
        var second = await NewChat(prompt, noCache: true);

        Assert.False(first.Cached);
        Assert.False(second.Cached);
        Assert.Equal(2, fixture.Ollama.CallsContaining(prompt));
    }

    [Fact]
    public async Task An_entry_older_than_the_ttl_is_generated_again()
    {
        var prompt = $"ttl {Guid.NewGuid()}";
        await NewChat(prompt);

        fixture.Clock.Advance(TimeSpan.FromSeconds(601));
        var later = await NewChat(prompt);

        Assert.False(later.Cached);
        Assert.Equal(2, fixture.Ollama.CallsContaining(prompt));
    }

    [Fact]
    public async Task A_failed_generation_is_not_cached()
    {
        var prompt = $"flaky {Guid.NewGuid()}";
        fixture.Ollama.Failures[prompt] = (HttpStatusCode.ServiceUnavailable, "loading model");
        await Assert.ThrowsAsync<OpossumException>(() => NewChat(prompt));

        fixture.Ollama.Failures.TryRemove(prompt, out _);
        var reply = await NewChat(prompt);

        Assert.False(reply.Cached);
        Assert.Equal("echo: " + prompt, reply.Message);
    }

    [Fact]
    public void The_cache_key_is_a_sha256_hash_that_depends_on_model_and_every_message()
    {
        var messages = new List<ChatMessage> { new("user", "ab"), new("assistant", "c") };
        var key = Opossum.Grains.Caching.CacheKey.For(new GenerationRequest("m", messages));

        Assert.Matches("^[0-9a-f]{64}$", key);
        Assert.Equal(key, Opossum.Grains.Caching.CacheKey.For(new GenerationRequest("m", [new("user", "ab"), new("assistant", "c")])));
        Assert.NotEqual(key, Opossum.Grains.Caching.CacheKey.For(new GenerationRequest("m2", messages)));
        Assert.NotEqual(key, Opossum.Grains.Caching.CacheKey.For(new GenerationRequest("m", [new("user", "a"), new("assistant", "bc")])));
    }

    private async Task<CacheCounts> WaitForCountsAsync(long hits, long misses)
    {
        // Silos report their counts once a second; give them time to land.
        var stats = fixture.Grains.GetGrain<ICacheStatsGrain>(0);
        for (var i = 0; i < 100; i++)
        {
            var counts = await stats.Get();
            if (counts.Hits >= hits && counts.Misses >= misses) return counts;
            await Task.Delay(50);
        }
        return await stats.Get();
    }
}
