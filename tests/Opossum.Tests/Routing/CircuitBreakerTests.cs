using System.Net;
using Opossum.Grains;
using Opossum.Tests.Support;

namespace Opossum.Tests.Routing;

[Collection(RoutingCollection.Name)]
public sealed class CircuitBreakerTests(RoutingFixture fixture) : IAsyncLifetime
{
    public Task InitializeAsync() => fixture.ResetAsync();
    public Task DisposeAsync() => fixture.ResetAsync();

    private async Task OpenOllamaCircuitAsync(string tag)
    {
        fixture.Ollama.Failures[tag] = (HttpStatusCode.InternalServerError, "crashed");
        for (var i = 0; i < 3; i++)
            await fixture.ChatAsync($"{tag} #{i}", model: RoutingFixture.Gemma);
        var health = await fixture.WaitForAsync("ollama", h => h.State == ServiceState.Offline);
        Assert.Equal(ServiceState.Offline, health.State);
        Assert.Equal(3, health.ConsecutiveFailures);
        Assert.Contains("crashed", health.LastError);
        fixture.Ollama.Failures.Clear();
    }

    [Fact]
    public async Task Three_failures_open_the_circuit_and_after_the_cool_down_a_good_probe_closes_it()
    {
        var tag = $"circuit {Guid.NewGuid():N}";
        await OpenOllamaCircuitAsync(tag);

        // Open: no traffic, even though Ollama would answer now.
        var during = await fixture.ChatAsync($"{tag} open", model: RoutingFixture.Gemma);
        fixture.Clock.Advance(TimeSpan.FromSeconds(30));
        var stillDuring = await fixture.ChatAsync($"{tag} still open", model: RoutingFixture.Gemma);
        Assert.Equal("gemini", during.Backend);
        Assert.Equal("gemini", stillDuring.Backend);
        Assert.Contains("OFFLINE", during.FallbackReason);
        Assert.Equal(0, fixture.Ollama.CallsContaining($"{tag} open") + fixture.Ollama.CallsContaining($"{tag} still open"));

        // Half-open: after the cool-down the next request's probe finds Ollama healthy and closes the circuit.
        fixture.Clock.Advance(TimeSpan.FromSeconds(31));
        var after = await fixture.ChatAsync($"{tag} closed", model: RoutingFixture.Gemma);

        Assert.Equal("ollama", after.Backend);
        Assert.Null(after.FallbackReason);
        var health = await fixture.Service("ollama").GetHealth();
        Assert.Equal(ServiceState.Online, health.State);
        Assert.Equal(0, health.ConsecutiveFailures);
    }

    [Fact]
    public async Task A_failed_half_open_probe_keeps_the_circuit_open_for_another_cool_down()
    {
        var tag = $"reopen {Guid.NewGuid():N}";
        await OpenOllamaCircuitAsync(tag);
        fixture.Ollama.TagsStatus = HttpStatusCode.BadGateway;

        fixture.Clock.Advance(TimeSpan.FromSeconds(61));
        var probed = await fixture.ChatAsync($"{tag} probe", model: RoutingFixture.Gemma);
        var tagsAfterProbe = fixture.Ollama.TagsCalls;
        fixture.Clock.Advance(TimeSpan.FromSeconds(30));
        var cooling = await fixture.ChatAsync($"{tag} cooling", model: RoutingFixture.Gemma);

        Assert.Equal("gemini", probed.Backend);
        Assert.Equal("gemini", cooling.Backend);
        Assert.Equal(tagsAfterProbe, fixture.Ollama.TagsCalls); // no second probe inside the new cool-down
        var health = await fixture.Service("ollama").GetHealth();
        Assert.Equal(ServiceState.Offline, health.State);
        Assert.Contains("HTTP 502", health.LastError);
    }

    [Fact]
    public async Task A_slow_check_marks_the_service_degraded_but_available()
    {
        fixture.Ollama.TagsDelay = TimeSpan.FromMilliseconds(400);

        var health = await fixture.Service("ollama").Check();

        Assert.Equal(ServiceState.Degraded, health.State);
        Assert.True(health.Available);
        Assert.True(health.LatencyMs >= 350, $"latency {health.LatencyMs} ms");
        var reply = await fixture.ChatAsync($"degraded {Guid.NewGuid():N}", model: RoutingFixture.Gemma);
        Assert.Equal("ollama", reply.Backend);
    }

    // The client learns of the restarted silos' gateways a moment after they are back.
    private static async Task<T> Retry<T>(Func<Task<T>> call)
    {
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (Orleans.Runtime.OrleansException) when (attempt < 50)
            {
                await Task.Delay(200);
            }
        }
    }

    [Fact]
    public async Task Service_state_and_conversations_survive_a_restart_of_every_silo()
    {
        fixture.GeminiServer.ModelsStatus = HttpStatusCode.ServiceUnavailable;
        for (var i = 0; i < 3; i++)
            await fixture.Service("gemini").Check();
        var conversationId = Guid.NewGuid().ToString("N");
        await fixture.Grains.GetGrain<IConversationGrain>(conversationId).Chat(new ChatCommand("remember me", RoutingFixture.Gemma, true, true));

        foreach (var silo in fixture.Cluster.Silos.ToList())
            await fixture.Cluster.RestartSiloAsync(silo);
        await fixture.Cluster.WaitForLivenessToStabilizeAsync();

        var gemini = await Retry(() => fixture.Service("gemini").GetHealth());
        Assert.Equal(ServiceState.Offline, gemini.State);
        Assert.Equal(3, gemini.ConsecutiveFailures);
        Assert.Contains("HTTP 503", gemini.LastError);
        // Still cooling down: the circuit was remembered, and no slot is granted.
        var refused = await Assert.ThrowsAsync<OpossumException>(() => fixture.Service("gemini").Acquire(RoutingFixture.Gemini, TestSilos.Anywhere));
        Assert.Contains("OFFLINE", refused.Message);
        var conversation = await fixture.Grains.GetGrain<IConversationGrain>(conversationId).Get();
        Assert.Equal("remember me", conversation!.Turns[0].Content);
    }
}
