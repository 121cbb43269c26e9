using Opossum.Grains;

namespace Opossum.Tests.Routing;

/// <summary>A request that needs tools or a schema, in a catalog where no model takes tools and none takes schemas.</summary>
[Collection(RoutingCollection.Name)]
public sealed class CapabilityRoutingTests(RoutingFixture fixture)
{
    private readonly string _prompt = $"capabilities {Guid.NewGuid():N}";

    private Task<ChatReply> ChatAsync(string? model, GenerationOptions options) =>
        fixture.Grains.GetGrain<IConversationGrain>(Guid.NewGuid().ToString("N")).Chat(new ChatCommand(_prompt, model, NoCache: true, StartsConversation: true, Options: options));

    [Theory]
    [InlineData(null)]
    [InlineData(RoutingFixture.Gemma)]
    public async Task Tools_when_no_configured_model_takes_them_are_bad_user_input_naming_tools(string? model)
    {
        var error = await Assert.ThrowsAsync<OpossumException>(() =>
            ChatAsync(model, new GenerationOptions(Tools: [new ToolDefinition("get_weather", null, """{"type":"object"}""")])));

        Assert.Equal(ErrorCodes.BadUserInput, error.Code);
        Assert.Equal("No configured model takes tools.", error.Message);
        Assert.Equal(0, fixture.Ollama.CallsContaining(_prompt) + fixture.GeminiServer.CallsContaining(_prompt));
    }

    [Fact]
    public async Task A_schema_when_no_configured_model_takes_one_is_bad_user_input_naming_schemas()
    {
        var error = await Assert.ThrowsAsync<OpossumException>(() =>
            ChatAsync(null, new GenerationOptions(Format: new OutputFormat("""{"type":"object"}""", Strict: true))));

        Assert.Equal(ErrorCodes.BadUserInput, error.Code);
        Assert.Equal("No configured model takes schemas.", error.Message);
    }
}
