using System.Text.Json;
using GraphQL;
using GraphQL.Execution;
using Opossum.Gateway.GraphQL.Http;

namespace Opossum.Tests.Gateway;

/// <summary>Responses are serialized into pooled memory before they are sent: nothing may be lost or mixed up.</summary>
public sealed class PooledBufferWriterTests
{
    [Fact]
    public void Everything_written_across_growth_reads_back_in_order()
    {
        var expected = Enumerable.Range(0, 50_000).Select(i => (byte)(i * 7)).ToArray();
        using var writer = new PooledBufferWriter(16);
        for (var offset = 0; offset < expected.Length;)
        {
            var chunk = Math.Min(1 + offset % 3000, expected.Length - offset);
            expected.AsSpan(offset, chunk).CopyTo(writer.GetSpan(chunk));
            writer.Advance(chunk);
            offset += chunk;
        }

        Assert.Equal(expected.Length, writer.WrittenCount);
        Assert.True(writer.WrittenMemory.Span.SequenceEqual(expected));
        Assert.Throws<ArgumentOutOfRangeException>(() => writer.Advance(writer.GetSpan().Length + 1));
    }

    [Fact]
    public async Task Results_serialized_one_after_another_on_many_threads_stay_whole()
    {
        var serializer = GraphQLResponseSerializer.Create(new ErrorInfoProvider());
        await Task.WhenAll(Enumerable.Range(0, 8).Select(thread => Task.Run(() =>
        {
            for (var i = 0; i < 200; i++)
            {
                var text = new string((char)('a' + thread), 10 + i * 20) + " — ünïcödé";
                using var body = new PooledBufferWriter(64);
                serializer.Write(body, new ExecutionResult { Executed = true, Data = new Dictionary<string, object?> { ["chat"] = text } });
                using var json = JsonDocument.Parse(body.WrittenMemory);
                Assert.Equal(text, json.RootElement.GetProperty("data").GetProperty("chat").GetString());
            }
        })));
    }
}
