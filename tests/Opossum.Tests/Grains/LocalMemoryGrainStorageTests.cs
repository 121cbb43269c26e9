using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Time.Testing;
using Opossum.Grains;
using Opossum.Grains.Conversations;
using Opossum.Grains.Storage;
using Orleans.Serialization;
using Orleans.Storage;

namespace Opossum.Tests.Grains;

/// <summary>Standalone storage: what a conversation grain reads back, how many it keeps, and for how long.</summary>
public sealed class LocalMemoryGrainStorageTests
{
    private static readonly Serializer Serializer = new ServiceCollection()
        .AddSerializer(b => b.AddAssembly(typeof(ConversationState).Assembly))
        .BuildServiceProvider().GetRequiredService<Serializer>();

    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);

    private LocalMemoryGrainStorage Create(TimeSpan? idleExpiry = null, int? maxEntries = null) =>
        new(Serializer, new LocalStorageLimits(idleExpiry, maxEntries), _clock);

    private static GrainId Id(string key) => GrainId.Create("conversation", key);

    private static GrainState<ConversationState> State(string said) => new(new ConversationState
    {
        Started = true,
        Turns = [new Turn("user", said, null, DateTimeOffset.UnixEpoch)],
    });

    private static async Task<string?> ReadAsync(IGrainStorage storage, string key)
    {
        var state = new GrainState<ConversationState>(new ConversationState());
        await storage.ReadStateAsync("conversation", Id(key), state);
        return state.RecordExists ? state.State!.Turns.Single().Content : null;
    }

    [Fact]
    public async Task What_is_written_reads_back_and_a_stale_write_is_refused()
    {
        using var storage = Create();
        await storage.WriteStateAsync("conversation", Id("a"), State("hello"));
        Assert.Equal("hello", await ReadAsync(storage, "a"));
        Assert.Null(await ReadAsync(storage, "b"));

        var first = new GrainState<ConversationState>(new ConversationState());
        var second = new GrainState<ConversationState>(new ConversationState());
        await storage.ReadStateAsync("conversation", Id("a"), first);
        await storage.ReadStateAsync("conversation", Id("a"), second);
        first.State!.Turns[0] = first.State.Turns[0] with { Content = "first" };
        await storage.WriteStateAsync("conversation", Id("a"), first);
        second.State!.Turns[0] = second.State.Turns[0] with { Content = "second" };
        await Assert.ThrowsAsync<InconsistentStateException>(() => storage.WriteStateAsync("conversation", Id("a"), second));
        Assert.Equal("first", await ReadAsync(storage, "a"));

        await storage.ClearStateAsync("conversation", Id("a"), first);
        Assert.Null(await ReadAsync(storage, "a"));
        Assert.Equal(0, storage.Count);
    }

    [Fact]
    public async Task The_longest_unwritten_go_first_when_full()
    {
        using var storage = Create(maxEntries: 3);
        foreach (var key in new[] { "a", "b", "c" })
            await storage.WriteStateAsync("conversation", Id(key), State(key));
        await storage.WriteStateAsync("conversation", Id("a"), State("a again")); // a is now the newest

        await storage.WriteStateAsync("conversation", Id("d"), State("d"));

        Assert.Equal(3, storage.Count);
        Assert.Null(await ReadAsync(storage, "b"));
        Assert.Equal("a again", await ReadAsync(storage, "a"));
        Assert.Equal("c", await ReadAsync(storage, "c"));
        Assert.Equal("d", await ReadAsync(storage, "d"));
    }

    [Fact]
    public async Task An_entry_not_written_for_the_idle_expiry_is_gone()
    {
        using var storage = Create(idleExpiry: TimeSpan.FromHours(1));
        await storage.WriteStateAsync("conversation", Id("a"), State("a"));

        _clock.Advance(TimeSpan.FromHours(1));
        Assert.Equal("a", await ReadAsync(storage, "a"));
        _clock.Advance(TimeSpan.FromTicks(1));
        Assert.Null(await ReadAsync(storage, "a"));
    }

    [Fact]
    public async Task Concurrent_writers_never_leave_more_than_the_limit()
    {
        using var storage = Create(maxEntries: 1000);
        await Task.WhenAll(Enumerable.Range(0, 4).Select(writer => Task.Run(async () =>
        {
            for (var i = 0; i < 5000; i++)
                await storage.WriteStateAsync("conversation", Id($"{writer}-{i}"), State($"{writer}-{i}"));
        })));

        Assert.Equal(1000, storage.Count);
        // The write order survived the contention: the first thousand are gone, a new write is kept.
        foreach (var writer in Enumerable.Range(0, 4))
            Assert.Null(await ReadAsync(storage, $"{writer}-0"));
        await storage.WriteStateAsync("conversation", Id("last"), State("last"));
        Assert.Equal("last", await ReadAsync(storage, "last"));
        Assert.Equal(1000, storage.Count);
    }
}
