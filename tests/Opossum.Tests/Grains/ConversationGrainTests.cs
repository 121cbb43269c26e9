using Opossum.Grains;
using Opossum.Tests.Support;

namespace Opossum.Tests.Grains;

[Collection(ClusterCollection.Name)]
public sealed class ConversationGrainTests(ClusterFixture fixture)
{
    private static string NewId() => Guid.NewGuid().ToString("N");

    private static ChatCommand Say(string message, bool starts = false, bool noCache = false, string? model = null) =>
        new(message, model, noCache, starts);

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_retried_request_is_answered_again_without_a_second_generation_or_record(bool starts)
    {
        var id = NewId();
        var conversation = fixture.Grains.GetGrain<IConversationGrain>(id);
        if (!starts)
            await conversation.Chat(Say($"hello {id}", starts: true));
        var request = new ChatCommand($"only once {id}", null, NoCache: true, StartsConversation: starts, RequestId: NewId());

        // The gateway retries with the same request id when a silo died before the reply reached it.
        var first = await conversation.Chat(request);
        var retried = await conversation.Chat(request);
        var other = await conversation.Chat(request with { RequestId = NewId() });

        Assert.Equal(first.Message, retried.Message);
        Assert.Equal(first.Model, retried.Model);
        Assert.Equal(first.Backend, retried.Backend);
        Assert.Equal(2, fixture.Ollama.CallsContaining($"only once {id}")); // the retry made none; a new request did
        var turns = (await conversation.Get())!.Turns;
        Assert.Equal(2, turns.Count(t => t.Role == "user" && t.Content == $"only once {id}"));
        Assert.Equal(starts ? 4 : 6, turns.Count);
        Assert.Equal(other.Message, turns[^1].Content);
    }

    [Fact]
    public async Task Earlier_turns_reach_the_model_as_chat_messages()
    {
        var id = NewId();
        var conversation = fixture.Grains.GetGrain<IConversationGrain>(id);

        var first = await conversation.Chat(Say($"My name is Ada {id}", starts: true));
        await conversation.Chat(Say($"What is my name? {id}"));

        var second = fixture.Ollama.Calls.Single(c => c.LastUserMessage == $"What is my name? {id}");
        Assert.Equal(ClusterFixture.Model, second.Model);
        Assert.Equal(
            [new FakeMessage("user", $"My name is Ada {id}"), new FakeMessage("assistant", first.Message), new FakeMessage("user", $"What is my name? {id}")],
            second.Messages);
    }

    [Fact]
    public async Task The_context_window_keeps_the_last_five_exchanges()
    {
        var id = NewId();
        var conversation = fixture.Grains.GetGrain<IConversationGrain>(id);
        for (var i = 1; i <= 7; i++)
            await conversation.Chat(Say($"turn {i} of {id}", starts: i == 1));

        var seventh = fixture.Ollama.Calls.Single(c => c.LastUserMessage == $"turn 7 of {id}");
        Assert.Equal(11, seventh.Messages.Count); // 5 exchanges + the new message
        Assert.Equal($"turn 2 of {id}", seventh.Messages[0].Content);

        var view = await conversation.Get();
        Assert.NotNull(view);
        Assert.Equal(10, view.Turns.Count);
        Assert.Equal($"turn 3 of {id}", view.Turns[0].Content);
        Assert.Equal("assistant", view.Turns[^1].Role);
        Assert.Equal(ClusterFixture.Model, view.Turns[^1].Model);
    }

    [Fact]
    public async Task An_unknown_conversation_is_not_created_by_chatting_to_it()
    {
        var id = NewId();
        var conversation = fixture.Grains.GetGrain<IConversationGrain>(id);

        var error = await Assert.ThrowsAsync<OpossumException>(() => conversation.Chat(Say("hello?")));

        Assert.Equal(ErrorCodes.ConversationNotFound, error.Code);
        Assert.Null(await conversation.Get());
        Assert.Equal(0, fixture.Ollama.CallsContaining("hello?"));
    }

    [Fact]
    public async Task Ending_a_conversation_forgets_it()
    {
        var id = NewId();
        var conversation = fixture.Grains.GetGrain<IConversationGrain>(id);
        await conversation.Chat(Say($"remember {id}", starts: true));

        Assert.True(await conversation.End());

        Assert.Null(await conversation.Get());
        var error = await Assert.ThrowsAsync<OpossumException>(() => conversation.Chat(Say($"still there? {id}")));
        Assert.Equal(ErrorCodes.ConversationNotFound, error.Code);
        Assert.False(await conversation.End());
    }

    [Fact]
    public async Task An_unknown_model_is_refused_before_any_backend_call()
    {
        var id = NewId();
        var error = await Assert.ThrowsAsync<OpossumException>(() =>
            fixture.Grains.GetGrain<IConversationGrain>(id).Chat(Say($"hi {id}", starts: true, model: "no-such-model")));

        Assert.Equal(ErrorCodes.ModelNotFound, error.Code);
        Assert.Equal(0, fixture.Ollama.CallsContaining(id));
    }

    [Fact]
    public async Task A_failed_generation_records_no_turns()
    {
        var id = NewId();
        fixture.Ollama.Failures[id] = (System.Net.HttpStatusCode.InternalServerError, "out of memory");
        var conversation = fixture.Grains.GetGrain<IConversationGrain>(id);
        await conversation.Chat(Say($"warm up", starts: true, noCache: true));

        var error = await Assert.ThrowsAsync<OpossumException>(() => conversation.Chat(Say($"fail {id}", noCache: true)));

        Assert.Equal(ErrorCodes.BackendUnavailable, error.Code);
        Assert.Contains("HTTP 500", error.Message);
        Assert.Contains("out of memory", error.Message);
        Assert.Equal(2, (await conversation.Get())!.Turns.Count);
    }
}
