using System.Net;
using Microsoft.Extensions.Time.Testing;
using Opossum.Grains;
using Opossum.Grains.Availability;
using Opossum.Grains.Backends;

namespace Opossum.Tests.Routing;

/// <summary>
/// The slots of a backend's servers on their own: real circuits, and a clock the test moves for queue timeouts
/// and expiry. A waiter's outcome is awaited before the queue is touched again (it is not thread-safe; the grain's turns are one at a time).
/// </summary>
public sealed class SlotQueueTests : IDisposable
{
    private static readonly SiloAddress Alive = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 2), 1);
    private static readonly SiloAddress Dead = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 3), 1);
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(120);
    private static readonly TimeSpan QueueTimeout = TimeSpan.FromSeconds(30);

    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly CancellationTokenSource _stopping = new();
    private readonly AvailabilityOptions _options = new() { FailureThreshold = 3, CoolDown = TimeSpan.FromSeconds(60) };

    public void Dispose() => _stopping.Dispose();

    private ServerAvailability[] Servers(params int[] parallelism) => parallelism.Select((slots, i) =>
        new ServerAvailability(new BackendServer(i, new Uri($"http://ollama-{i}:11434/"), slots), new CircuitBreaker(new CircuitState(), _options, _clock), _clock)).ToArray();

    private SlotQueue Queue(ServerAvailability[] servers) => new("ollama", servers, RequestTimeout, QueueTimeout, _clock, _stopping.Token);

    private Task<Slot> Ask(SlotQueue queue, int[]? avoid = null, Guid ticket = default, SiloAddress? holder = null, CancellationToken cancellationToken = default) =>
        queue.AcquireAsync(holder ?? Alive, avoid, ticket, _clock.GetTimestamp(), cancellationToken);

    private static async Task<int> ServerOf(Task<Slot> slot) => (await slot.WaitAsync(TimeSpan.FromSeconds(10))).Server;

    [Fact]
    public async Task A_slot_goes_to_the_server_with_the_fewest_in_flight_and_of_equals_to_the_one_that_waited_longest()
    {
        var queue = Queue(Servers(2, 2));

        Assert.Equal(0, await ServerOf(Ask(queue)));
        Assert.Equal(1, await ServerOf(Ask(queue)));
        Assert.Equal(0, await ServerOf(Ask(queue)));
        Assert.Equal(1, await ServerOf(Ask(queue)));
        Assert.False(Ask(queue).IsCompleted); // every slot is taken: it waits
        Assert.Equal(2, queue.InFlight(0));
        Assert.Equal(2, queue.InFlight(1));
    }

    [Fact]
    public async Task Waiters_are_served_first_come_first_served_and_are_told_how_long_they_waited()
    {
        var queue = Queue(Servers(1));
        var held = await Ask(queue);
        var first = Ask(queue);
        var second = Ask(queue);
        _clock.Advance(TimeSpan.FromSeconds(4));

        queue.Release(held);
        var granted = await first;

        Assert.Equal(TimeSpan.FromSeconds(4), granted.Waited);
        Assert.False(second.IsCompleted);
        queue.Release(granted);
        Assert.Equal(0, await ServerOf(second));
    }

    [Fact]
    public async Task A_waiter_that_avoids_a_server_does_not_hold_up_those_behind_it()
    {
        var queue = Queue(Servers(1, 1));
        var onFirst = await Ask(queue);
        await Ask(queue);
        var avoiding = Ask(queue, avoid: [0]);
        var behind = Ask(queue);

        queue.Release(onFirst);

        Assert.Equal(0, await ServerOf(behind));
        Assert.False(avoiding.IsCompleted); // still waiting for the server it may use
    }

    [Fact]
    public async Task A_waiter_that_avoids_nothing_is_served_before_those_behind_it()
    {
        var queue = Queue(Servers(1, 1));
        var onFirst = await Ask(queue);
        await Ask(queue);
        var first = Ask(queue);
        var avoiding = Ask(queue, avoid: [1]);

        queue.Release(onFirst);
        var firstSlot = await first;

        Assert.Equal(0, firstSlot.Server);
        Assert.False(avoiding.IsCompleted);
        queue.Release(firstSlot);
        Assert.Equal(0, await ServerOf(avoiding));
    }

    [Fact]
    public async Task Avoided_servers_and_open_circuits_get_no_slot()
    {
        var servers = Servers(1, 1);
        var queue = Queue(servers);

        Assert.Equal(1, await ServerOf(Ask(queue, avoid: [0])));
        for (var i = 0; i < 3; i++) servers[1].Circuit.Failed("boom", check: false);
        var refused = await Assert.ThrowsAsync<OpossumException>(() => Ask(queue, avoid: [0]));
        Assert.Equal(ErrorCodes.BackendUnavailable, refused.Code);
        Assert.Equal(0, await ServerOf(Ask(queue)));
    }

    [Fact]
    public async Task A_waiter_is_refused_when_its_last_usable_server_opens_its_circuit()
    {
        var servers = Servers(1);
        var queue = Queue(servers);
        var held = await Ask(queue);
        var waiting = Ask(queue);

        for (var i = 0; i < 3; i++) servers[0].Circuit.Failed("HTTP 500: crashed", check: false);
        queue.Release(held);

        var refused = await Assert.ThrowsAsync<OpossumException>(() => waiting);
        Assert.Equal("Backend 'ollama' is OFFLINE (circuit open after 3 consecutive failures; last error: HTTP 500: crashed).", refused.Message);
    }

    [Fact]
    public async Task A_waiter_gives_up_after_the_queue_timeout_and_says_which_slots_were_taken()
    {
        var queue = Queue(Servers(1, 2));
        for (var i = 0; i < 3; i++) await Ask(queue);
        var waiting = Ask(queue);

        _clock.Advance(QueueTimeout);

        var busy = await Assert.ThrowsAsync<OpossumException>(() => waiting);
        Assert.Equal(ErrorCodes.BackendUnavailable, busy.Code);
        Assert.Equal("Backend 'ollama' is busy: every slot (1 on http://ollama-0:11434/, 2 on http://ollama-1:11434/) stayed taken for 30 s.", busy.Message);
    }

    [Fact]
    public async Task A_stopping_silo_sends_its_waiters_to_ask_again_and_a_caller_may_cancel()
    {
        var queue = Queue(Servers(1));
        await Ask(queue);
        using var caller = new CancellationTokenSource();
        var cancelled = Ask(queue, cancellationToken: caller.Token);
        var waiting = Ask(queue);

        await caller.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        await _stopping.CancelAsync();

        var retry = await Assert.ThrowsAsync<OrleansException>(() => waiting);
        Assert.Equal("The silo of backend 'ollama''s slots is stopping; the request is retried on the silo that takes them over.", retry.Message);
    }

    [Fact]
    public async Task The_slots_of_a_dead_holder_are_reclaimed_and_handed_on()
    {
        var queue = Queue(Servers(2));
        await Ask(queue, holder: Dead);
        await Ask(queue, holder: Dead);
        var waiting = Ask(queue, holder: Alive);

        queue.Reclaim(holder => holder.Equals(Dead));
        queue.HandOff();

        Assert.Equal(0, await ServerOf(waiting));
        Assert.Equal(1, queue.InFlight(0));
    }

    [Fact]
    public async Task A_slot_held_past_the_request_timeout_and_a_margin_is_reclaimed()
    {
        var queue = Queue(Servers(1));
        await Ask(queue);

        _clock.Advance(RequestTimeout + TimeSpan.FromSeconds(29));
        queue.Reclaim(_ => false);
        Assert.Equal(1, queue.InFlight(0)); // a generation may still be running
        _clock.Advance(TimeSpan.FromSeconds(2));
        queue.Reclaim(_ => false);

        Assert.Equal(0, queue.InFlight(0));
        Assert.Equal(0, await ServerOf(Ask(queue)));
    }

    [Fact]
    public async Task Abandoning_takes_a_request_out_of_the_queue_and_frees_a_granted_slot_for_the_next_in_line()
    {
        var queue = Queue(Servers(1));
        var holding = Guid.NewGuid();
        var waiting = Guid.NewGuid();
        await Ask(queue, ticket: holding);
        var gaveUp = Ask(queue, ticket: waiting);
        var behind = Ask(queue);

        queue.Abandon(waiting);
        var refused = await Assert.ThrowsAsync<OrleansException>(() => gaveUp);
        queue.Abandon(holding);

        Assert.Equal("The request for a slot of backend 'ollama' was given up by its caller.", refused.Message);
        Assert.Equal(0, await ServerOf(behind));
        Assert.Equal(1, queue.InFlight(0));
    }

    [Fact]
    public async Task A_request_abandoned_before_it_arrived_is_refused_once_and_forgotten_after_a_while()
    {
        var queue = Queue(Servers(1));
        var late = Guid.NewGuid();
        var forgotten = Guid.NewGuid();

        queue.Abandon(late);
        queue.Abandon(forgotten);

        var refused = Assert.Throws<OrleansException>(() => queue.Arrived(late));
        Assert.Equal("The request for a slot of backend 'ollama' was given up by its caller before it arrived.", refused.Message);
        queue.Arrived(late); // refused once: the ticket is not kept
        _clock.Advance(TimeSpan.FromSeconds(31));
        queue.Reclaim(_ => false);
        queue.Arrived(forgotten);
        Assert.Equal(0, await ServerOf(Ask(queue, ticket: forgotten)));
    }
}
