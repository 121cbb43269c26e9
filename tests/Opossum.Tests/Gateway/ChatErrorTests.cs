using System.Net;
using Opossum.Tests.Support;

namespace Opossum.Tests.Gateway;

[Collection(GatewayCollection.Name)]
public sealed class ChatErrorTests(GatewayFixture fixture)
{
    private GatewayHost Gateway => fixture.Gateway;

    [Theory]
    [InlineData("")]
    [InlineData("   \t\n ")]
    public async Task An_empty_message_is_bad_user_input(string message)
    {
        var result = await Gateway.ChatAsync(new { message });

        AssertError(result, "BAD_USER_INPUT", "empty");
    }

    [Fact]
    public async Task A_message_over_32_KiB_is_bad_user_input()
    {
        var result = await Gateway.ChatAsync(new { message = new string('a', 32 * 1024 + 1) });

        AssertError(result, "BAD_USER_INPUT", "32 KiB");
        RepositoryDocs.AssertStates("docs/contracts.md", $"message over {Opossum.Gateway.Chat.ChatService.MaxMessageBytes / 1024} KiB");
    }

    [Fact]
    public async Task A_message_of_exactly_32_KiB_is_accepted()
    {
        var message = Guid.NewGuid().ToString("N") + new string('a', 32 * 1024 - 32);

        var result = await Gateway.ChatAsync(new { message, noCache = true });

        Assert.Empty(result.Errors);
    }

    [Fact]
    public async Task An_unknown_model_is_model_not_found()
    {
        var result = await Gateway.ChatAsync(new { message = "hi", model = "gpt-17" });

        AssertError(result, "MODEL_NOT_FOUND", "gpt-17");
        Assert.Contains("gemma3:1b", result.ErrorMessage);
    }

    [Fact]
    public async Task An_unknown_conversation_id_is_reported_not_created()
    {
        var id = Guid.NewGuid().ToString("N");

        var result = await Gateway.ChatAsync(new { message = "hi", conversationId = id });

        AssertError(result, "CONVERSATION_NOT_FOUND", id);
        var read = await Gateway.PostAsync("query($id: ID!) { conversation(id: $id) { id } }", new { id });
        Assert.Null(read.Data!["conversation"]);
    }

    [Theory]
    [InlineData(HttpStatusCode.InternalServerError, "HTTP 500", "CUDA out of memory")]
    [InlineData(HttpStatusCode.NotFound, "HTTP 404", "model 'gemma3:1b' not found, try pulling it first")]
    public async Task A_failing_backend_is_backend_unavailable_with_the_reason(HttpStatusCode status, string expectedStatus, string reason)
    {
        var prompt = $"break {Guid.NewGuid()}";
        fixture.Ollama.Failures[prompt] = (status, reason);

        var result = await Gateway.ChatAsync(new { message = prompt });

        AssertError(result, "BACKEND_UNAVAILABLE", expectedStatus);
        Assert.Contains(reason, result.ErrorMessage);
    }

    [Fact]
    public async Task An_invalid_conversation_id_is_bad_user_input()
    {
        var result = await Gateway.ChatAsync(new { message = "hi", conversationId = new string('x', 200) });

        AssertError(result, "BAD_USER_INPUT", "conversationId");
    }

    internal static void AssertError(GraphQLResult result, string code, string messagePart)
    {
        Assert.True(result.Status == 200, result.ToString());
        Assert.Equal(code, result.ErrorCode);
        Assert.Contains(messagePart, result.ErrorMessage);
        Assert.Matches("^[0-9a-f]{32}$", result.Errors[0]!["extensions"]!["traceId"]!.GetValue<string>());
        Assert.Null(result.Data);
    }
}
