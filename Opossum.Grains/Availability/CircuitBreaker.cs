namespace Opossum.Grains.Availability;

/// <summary>Stored availability of one server, including its circuit.</summary>
[GenerateSerializer]
public sealed class CircuitState
{
    [Id(0)] public ServiceState State { get; set; }
    [Id(1)] public DateTimeOffset? LastChecked { get; set; }
    [Id(2)] public string? LastError { get; set; }
    [Id(3)] public int ConsecutiveFailures { get; set; }
    [Id(4)] public double? LatencyMs { get; set; }
    /// <summary>When the circuit last opened; null while closed.</summary>
    [Id(5)] public DateTimeOffset? OpenedAt { get; set; }
}

/// <summary>What a circuit says about sending a generation now.</summary>
public enum CircuitDecision
{
    /// <summary>Closed: send.</summary>
    Send,
    /// <summary>Open and cooling down: send nothing.</summary>
    Refuse,
    /// <summary>Open and cooled down (half-open): one check decides.</summary>
    Probe,
}

/// <summary>
/// The circuit of one server: <c>FailureThreshold</c> consecutive failures (checks or generations) open
/// it, and the server is OFFLINE; after the cool-down one probe closes it again or re-opens it. Pure: the
/// state it changes is the stored <see cref="CircuitState"/>, time comes from a <see cref="TimeProvider"/>.
/// </summary>
public sealed class CircuitBreaker(CircuitState state, AvailabilityOptions options, TimeProvider time)
{
    public CircuitState State => state;

    public bool IsOpen => state.OpenedAt is not null;

    public bool CoolingDown => state.OpenedAt is { } opened && time.GetUtcNow() < opened + options.CoolDown;

    /// <summary>Nothing to count: a success would change nothing.</summary>
    public bool Healthy => !IsOpen && state.ConsecutiveFailures == 0 && state.State is ServiceState.Online or ServiceState.Degraded;

    public CircuitDecision Decide() => !IsOpen ? CircuitDecision.Send : CoolingDown ? CircuitDecision.Refuse : CircuitDecision.Probe;

    /// <summary>A check answered in <paramref name="latency"/>: the circuit closes; a slow answer is DEGRADED. True when it was open.</summary>
    public bool CheckSucceeded(TimeSpan latency)
    {
        var wasOpen = IsOpen;
        state.OpenedAt = null;
        state.ConsecutiveFailures = 0;
        state.LastError = null;
        state.LatencyMs = latency.TotalMilliseconds;
        state.State = latency > options.DegradedLatency ? ServiceState.Degraded : ServiceState.Online;
        state.LastChecked = time.GetUtcNow();
        return wasOpen;
    }

    /// <summary>A generation succeeded: counted failures are forgotten. False when nothing changed.</summary>
    public bool GenerationSucceeded()
    {
        if (IsOpen || Healthy) return false;
        state.ConsecutiveFailures = 0;
        state.LastError = null;
        if (state.State == ServiceState.Unknown) state.State = ServiceState.Online;
        return true;
    }

    /// <summary>A check or a generation failed. True when this failure opened the circuit.</summary>
    public bool Failed(string reason, bool check)
    {
        var wasOpen = IsOpen;
        state.ConsecutiveFailures++;
        state.LastError = reason;
        state.LatencyMs = null;
        if (check) state.LastChecked = time.GetUtcNow();
        if (IsOpen || state.ConsecutiveFailures >= options.FailureThreshold)
        {
            state.State = ServiceState.Offline;
            state.OpenedAt = time.GetUtcNow(); // (re)open: the cool-down starts again
        }
        return !wasOpen && IsOpen;
    }
}
