using Microsoft.Extensions.Time.Testing;
using Opossum.Grains;
using Opossum.Grains.Availability;

namespace Opossum.Tests.Routing;

/// <summary>The circuit of one server on its own: a stored state, the options, and a clock the test moves.</summary>
public sealed class CircuitStateTests
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly AvailabilityOptions _options = new() { FailureThreshold = 3, CoolDown = TimeSpan.FromSeconds(60), DegradedLatency = TimeSpan.FromSeconds(1) };

    private CircuitBreaker New(CircuitState? state = null) => new(state ?? new CircuitState(), _options, _clock);

    [Fact]
    public void The_threshold_opens_the_circuit_and_the_cool_down_leads_to_one_probe()
    {
        var circuit = New();

        Assert.False(circuit.Failed("boom 1", check: false));
        Assert.False(circuit.Failed("boom 2", check: false));
        Assert.Equal(CircuitDecision.Send, circuit.Decide());
        Assert.True(circuit.Failed("boom 3", check: false)); // this one opened it

        Assert.Equal(ServiceState.Offline, circuit.State.State);
        Assert.Equal("boom 3", circuit.State.LastError);
        Assert.Equal(CircuitDecision.Refuse, circuit.Decide());
        _clock.Advance(TimeSpan.FromSeconds(59));
        Assert.Equal(CircuitDecision.Refuse, circuit.Decide());
        _clock.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(CircuitDecision.Probe, circuit.Decide());
    }

    [Fact]
    public void A_failed_probe_reopens_for_a_whole_cool_down_and_a_good_one_closes()
    {
        var circuit = New();
        for (var i = 0; i < 3; i++) circuit.Failed("down", check: true);
        _clock.Advance(TimeSpan.FromSeconds(61));

        circuit.Failed("still down", check: true);
        Assert.Equal(CircuitDecision.Refuse, circuit.Decide());
        Assert.Equal(_clock.GetUtcNow(), circuit.State.LastChecked);
        _clock.Advance(TimeSpan.FromSeconds(61));

        Assert.True(circuit.CheckSucceeded(TimeSpan.FromMilliseconds(20))); // it was open
        Assert.Equal(CircuitDecision.Send, circuit.Decide());
        Assert.Equal(ServiceState.Online, circuit.State.State);
        Assert.Equal(0, circuit.State.ConsecutiveFailures);
        Assert.Null(circuit.State.LastError);
        Assert.True(circuit.Healthy);
    }

    [Fact]
    public void A_slow_check_is_degraded_and_a_success_forgets_counted_failures()
    {
        var circuit = New();
        circuit.CheckSucceeded(TimeSpan.FromSeconds(2));
        Assert.Equal(ServiceState.Degraded, circuit.State.State);
        Assert.False(circuit.GenerationSucceeded()); // nothing to forget

        circuit.Failed("blip", check: false);
        Assert.False(circuit.Healthy);
        Assert.True(circuit.GenerationSucceeded());
        Assert.Equal(0, circuit.State.ConsecutiveFailures);
        Assert.True(circuit.Healthy);
    }

    [Fact]
    public void An_open_circuit_is_remembered_by_its_stored_state()
    {
        var stored = new CircuitState();
        var first = New(stored);
        for (var i = 0; i < 3; i++) first.Failed("down", check: false);

        var again = New(stored); // another activation, reading the same state
        Assert.True(again.IsOpen);
        Assert.Equal(CircuitDecision.Refuse, again.Decide());
    }
}
