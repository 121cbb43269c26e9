using System.Net;
using Opossum.Grains;
using Opossum.Tests.Support;

namespace Opossum.Tests.Grains;

[Collection(ClusterCollection.Name)]
public sealed class ServiceGrainTests(ClusterFixture fixture)
{
    [Fact]
    public async Task Availability_follows_the_backend_offline_and_back_online()
    {
        var ollama = fixture.Grains.GetGrain<IServiceGrain>("ollama");
        try
        {
            var online = await ollama.Check();
            Assert.Equal(ServiceState.Online, online.State);
            Assert.True(online.Available);
            Assert.NotNull(online.LatencyMs);

            fixture.Ollama.TagsStatus = HttpStatusCode.InternalServerError;
            var failing = await ollama.Check();
            await ollama.Check();
            var down = await ollama.Check();

            // Two failures are counted but the circuit stays closed; the third opens it.
            Assert.Equal(ServiceState.Online, failing.State);
            Assert.Equal(1, failing.ConsecutiveFailures);
            Assert.Contains("HTTP 500", failing.LastError);
            Assert.Equal(ServiceState.Offline, down.State);
            Assert.False(down.Available);
            Assert.Equal(3, down.ConsecutiveFailures);
            Assert.True(down.LastChecked >= failing.LastChecked);

            fixture.Ollama.TagsStatus = HttpStatusCode.OK;
            var back = await ollama.Check();
            Assert.Equal(ServiceState.Online, back.State);
            Assert.Equal(0, back.ConsecutiveFailures);
            Assert.Null(back.LastError);
            Assert.Equal(back with { Servers = null }, (await ollama.GetHealth()) with { Servers = null });
            var server = Assert.Single(back.Servers!);
            Assert.Equal(fixture.Ollama.BaseUrl.ToString(), server.Url);
            Assert.Equal(ServiceState.Online, server.State);
        }
        finally
        {
            fixture.Ollama.TagsStatus = HttpStatusCode.OK;
        }
    }

    [Fact]
    public async Task The_service_monitor_checks_without_being_asked()
    {
        // Silos activate the monitor of every configured service at start-up; its timer's first tick checks.
        var health = await fixture.Grains.GetGrain<IServiceGrain>("ollama").GetHealth();
        Assert.NotNull(health.LastChecked);
        Assert.True(fixture.Ollama.TagsCalls > 0);
    }

    [Fact]
    public async Task A_slot_asked_for_by_a_call_that_failed_on_its_way_is_given_up()
    {
        // A model grain whose call broke (the silo that passed it on to this activation died) abandons its ticket:
        // the slot it was granted, its place in the queue, or the call still on its way must not be held for it.
        var ollama = fixture.Grains.GetGrain<IServiceGrain>("ollama");
        await WaitForNoneInFlightAsync(ollama); // generations of earlier tests are over
        var held = new List<Slot>();
        var tickets = Enumerable.Range(0, ClusterFixture.ServerParallelism).Select(_ => Guid.NewGuid()).ToList();
        foreach (var ticket in tickets)
            held.Add(await ollama.Acquire("any", TestSilos.Anywhere, ticket: ticket));
        try
        {
            var queued = Guid.NewGuid();
            var gaveUp = ollama.Acquire("any", TestSilos.Anywhere, ticket: queued);
            var next = ollama.Acquire("any", TestSilos.Anywhere, ticket: Guid.NewGuid());
            await ollama.Abandon(queued);
            await Assert.ThrowsAsync<OrleansException>(() => gaveUp);

            await ollama.Abandon(tickets[0]); // granted, never used: the slot goes to the next in line
            held.Add(await next.WaitAsync(TimeSpan.FromSeconds(10)));
            held.RemoveAt(0);

            var late = Guid.NewGuid();
            await ollama.Abandon(late); // given up before the call arrived
            await Assert.ThrowsAsync<OrleansException>(() => ollama.Acquire("any", TestSilos.Anywhere, ticket: late));
        }
        finally
        {
            foreach (var slot in held)
                await ollama.Release(slot, GenerationOutcome.Inconclusive);
        }
        await WaitForNoneInFlightAsync(ollama);
    }

    // Releases are one-way calls: they are waited for through what the service reports.
    private static async Task WaitForNoneInFlightAsync(IServiceGrain service)
    {
        var inFlight = 0;
        for (var i = 0; i < 100 && (inFlight = (await service.GetHealth()).Servers!.Sum(s => s.InFlight)) > 0; i++)
            await Task.Delay(100);
        Assert.Equal(0, inFlight);
    }

    [Fact]
    public async Task A_service_that_is_not_enabled_reports_offline_with_the_reason()
    {
        var health = await fixture.Grains.GetGrain<IServiceGrain>("gemini").Check();

        Assert.Equal(ServiceState.Offline, health.State);
        Assert.Equal("disabled: GEMINI_API_KEY is not set", health.LastError);
        var refused = await Assert.ThrowsAsync<OpossumException>(() =>
            fixture.Grains.GetGrain<IServiceGrain>("gemini").Acquire("gemini-thinking", TestSilos.Anywhere));
        Assert.Equal(ErrorCodes.BackendUnavailable, refused.Code);
        Assert.Contains("GEMINI_API_KEY is not set", refused.Message);
    }
}
