using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Opossum.Tests.Support;

namespace Opossum.Tests.Gateway;

[Collection(GatewayCollection.Name)]
public sealed class CancellationTests(GatewayFixture fixture)
{
    [Fact]
    public async Task A_client_that_disconnects_cancels_the_backend_call()
    {
        var prompt = $"never mind {Guid.NewGuid():N}";
        fixture.Ollama.Delays[prompt] = TimeSpan.FromSeconds(30);
        var abortedBefore = fixture.Ollama.Aborted;
        var body = JsonSerializer.Serialize(new { query = "mutation($m: String!) { chat(input: {message: $m, noCache: true}) { message } }", variables = new { m = prompt } });

        using var client = new HttpClient { BaseAddress = fixture.Gateway.Http.BaseAddress };
        using var gone = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() =>
            client.PostAsync("/graphql", new StringContent(body, Encoding.UTF8, "application/json"), gone.Token));

        // The backend sees its request aborted long before its 30 s answer would come.
        for (var i = 0; i < 100 && fixture.Ollama.Aborted == abortedBefore; i++)
            await Task.Delay(50);
        Assert.Equal(abortedBefore + 1, fixture.Ollama.Aborted);
        Assert.Equal(1, fixture.Ollama.CallsContaining(prompt));
    }
}
