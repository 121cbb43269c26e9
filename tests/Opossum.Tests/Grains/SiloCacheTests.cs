using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Opossum.Grains;
using Opossum.Grains.Caching;

namespace Opossum.Tests.Grains;

/// <summary>A silo's copies of cached answers: fresh until the entry's own expiry, and bounded.</summary>
public sealed class SiloCacheTests
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);

    private SiloCache Create(int capacity) => new(Options.Create(new CacheOptions { LocalEntries = capacity }), _clock);

    private static Generation Answer(string text) => new(text, "ollama", "gemma3:1b", 1, 2);

    [Fact]
    public void A_copy_is_served_until_the_entry_expires_and_not_after()
    {
        var answers = Create(100);
        answers.Keep("k", Answer("cached"), _clock.GetUtcNow().AddMinutes(10));

        _clock.Advance(TimeSpan.FromMinutes(10) - TimeSpan.FromMilliseconds(1));
        Assert.Equal("cached", answers.Find("k")?.Content);
        _clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Null(answers.Find("k"));
        Assert.Equal(0, answers.Count);
    }

    [Fact]
    public void No_more_copies_than_configured_are_kept_and_expired_ones_go_first()
    {
        var answers = Create(10);
        answers.Keep("short-lived", Answer("old"), _clock.GetUtcNow().AddSeconds(1));
        for (var i = 0; i < 9; i++)
            answers.Keep($"k{i}", Answer($"a{i}"), _clock.GetUtcNow().AddMinutes(10));
        _clock.Advance(TimeSpan.FromSeconds(2));

        answers.Keep("new", Answer("new"), _clock.GetUtcNow().AddMinutes(10));

        Assert.Equal("new", answers.Find("new")?.Content);
        Assert.Equal(10, answers.Count);
        Assert.All(Enumerable.Range(0, 9), i => Assert.Equal($"a{i}", answers.Find($"k{i}")?.Content));

        for (var i = 0; i < 1000; i++)
            answers.Keep($"more{i}", Answer("more"), _clock.GetUtcNow().AddMinutes(10));
        Assert.InRange(answers.Count, 1, 10);
        Assert.Equal("more", answers.Find("more999")?.Content);
    }

    [Fact]
    public void Zero_capacity_keeps_nothing_and_expired_answers_are_not_kept()
    {
        var off = Create(0);
        off.Keep("k", Answer("a"), _clock.GetUtcNow().AddMinutes(10));
        Assert.Null(off.Find("k"));

        var on = Create(10);
        on.Keep("k", Answer("a"), _clock.GetUtcNow());
        Assert.Null(on.Find("k"));
        Assert.Equal(0, on.Count);
    }
}
