using System.Security.Cryptography;
using Opossum.Grains;
using Opossum.Tests.Support;

namespace Opossum.Tests.Routing;

[Collection(RoutingCollection.Name)]
public sealed class ImageRoutingTests(RoutingFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => fixture.ResetAsync();
    public Task DisposeAsync() => fixture.ResetAsync();

    private static ImageAttachment Attachment(byte[] data, string mime) => new(mime, data, Convert.ToHexStringLower(SHA256.HashData(data)));

    [Fact]
    public async Task An_image_goes_to_gemini_as_inline_data()
    {
        var prompt = $"what is in this picture {Guid.NewGuid():N}";

        var reply = await fixture.ChatAsync(prompt, image: Attachment(Images.Png, "image/png"));

        Assert.Equal("gemini", reply.Backend);
        Assert.Equal(["image/png"], fixture.GeminiServer.Calls.Single(c => c.LastUserText == prompt).ImageTypes);
    }

    [Fact]
    public async Task An_image_falls_back_only_to_image_capable_models()
    {
        var prompt = $"picture fallback {Guid.NewGuid():N}";
        fixture.GeminiServer.Behaviours[prompt] = new(GeminiFailure.ServerError);

        var reply = await fixture.ChatAsync(prompt, image: Attachment(Images.Jpeg, "image/jpeg"));

        Assert.Equal(RoutingFixture.Llava, reply.Model);
        var call = fixture.Ollama.Calls.Single(c => c.LastUserMessage == prompt);
        Assert.Equal("llava", call.Model);
        Assert.Equal(1, call.Images);
    }

    [Fact]
    public async Task An_image_for_a_model_without_image_support_is_bad_user_input()
    {
        var error = await Assert.ThrowsAsync<OpossumException>(() =>
            fixture.ChatAsync("describe", model: RoutingFixture.Gemma, image: Attachment(Images.Png, "image/png")));

        Assert.Equal(ErrorCodes.BadUserInput, error.Code);
        Assert.Contains("gemini-thinking, llava", error.Message);
    }

    [Fact]
    public async Task The_image_is_part_of_the_cache_key()
    {
        var prompt = $"cache with image {Guid.NewGuid():N}";
        var png = Attachment(Images.Png, "image/png");

        var first = await fixture.ChatAsync(prompt, noCache: false, image: png);
        var same = await fixture.ChatAsync(prompt, noCache: false, image: png);
        var other = await fixture.ChatAsync(prompt, noCache: false, image: Attachment(Images.Jpeg, "image/jpeg"));
        var none = await fixture.ChatAsync(prompt, noCache: false);

        Assert.False(first.Cached);
        Assert.True(same.Cached);
        Assert.False(other.Cached);
        Assert.False(none.Cached);
        Assert.Equal(3, fixture.GeminiServer.CallsContaining(prompt));
    }
}
