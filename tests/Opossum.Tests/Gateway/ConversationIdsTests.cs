using System.Collections.Concurrent;
using Opossum.Gateway.Chat;

namespace Opossum.Tests.Gateway;

/// <summary>New conversation ids are what lets a client continue: unguessable, never repeated.</summary>
public sealed class ConversationIdsTests
{
    [Fact]
    public async Task Ids_from_many_threads_are_32_hex_characters_and_never_repeat()
    {
        var ids = new ConcurrentBag<string>();
        // 4 threads x 1 000 ids: each thread refills its random buffer several times (256 ids per 4 KiB).
        await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => Task.Factory.StartNew(() =>
        {
            for (var i = 0; i < 1000; i++) ids.Add(ConversationIds.New());
        }, TaskCreationOptions.LongRunning)));

        Assert.Equal(4000, ids.Count);
        Assert.Equal(4000, ids.Distinct().Count());
        Assert.All(ids, id => Assert.Matches("^[0-9a-f]{32}$", id));
        // Random bits, not a counter: across 4 000 ids every hex digit shows up in every position.
        Assert.All(Enumerable.Range(0, 32), position => Assert.Equal(16, ids.Select(id => id[position]).Distinct().Count()));
    }
}
