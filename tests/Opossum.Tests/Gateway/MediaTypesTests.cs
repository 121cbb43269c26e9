using Opossum.Gateway.GraphQL.Http;

namespace Opossum.Tests.Gateway;

/// <summary>The Accept header's rule alone: the first acceptable type wins, and text/event-stream is for subscriptions.</summary>
public sealed class MediaTypesTests
{
    [Theory]
    [InlineData(null, "application/json", false, false)]
    [InlineData("application/graphql-response+json", "application/graphql-response+json", false, false)]
    [InlineData("text/event-stream", null, true, true)]
    [InlineData("application/graphql-response+json, application/graphql+json, application/json, text/event-stream, multipart/mixed", "application/graphql-response+json", true, false)]
    [InlineData("text/event-stream, application/json", "application/json", true, true)]
    [InlineData("application/json;q=0.9, text/event-stream", "application/json", true, true)]
    [InlineData("multipart/mixed, text/event-stream;q=0.5, */*;q=0.5", "application/json", true, true)]
    [InlineData("application/json, text/event-stream;q=0", "application/json", false, false)]
    [InlineData("text/html", null, false, false)]
    public void The_first_acceptable_type_wins(string? accept, string? json, bool eventStream, bool prefersEventStream)
    {
        Assert.Equal(new Acceptable(json, eventStream, prefersEventStream), MediaTypes.Negotiate(accept));
    }

    // What almost every request sends: read without allocating, as the cached chat's path depends on it.
    [Theory]
    [InlineData("application/graphql-response+json")]
    [InlineData("application/json")]
    [InlineData("text/event-stream")]
    public void One_type_alone_is_read_without_allocating(string accept)
    {
        MediaTypes.Negotiate(accept);
        var before = GC.GetAllocatedBytesForCurrentThread();

        for (var i = 0; i < 1000; i++)
            MediaTypes.Negotiate(accept);

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }
}
