using Opossum.Grains.Backends;

namespace Opossum.Grains.Availability;

/// <summary>
/// Whether one server of a backend may take a generation now: its circuit, and any throttle (a 429 keeps
/// traffic away for the server's Retry-After without counting as a failure). Time comes from a <see cref="TimeProvider"/>.
/// </summary>
public sealed class ServerAvailability(BackendServer server, CircuitBreaker circuit, TimeProvider time)
{
    public BackendServer Server => server;

    public CircuitBreaker Circuit => circuit;

    public DateTimeOffset ThrottledUntil { get; private set; }

    public string? ThrottleReason { get; private set; }

    public bool Throttled => ThrottledUntil > time.GetUtcNow();

    /// <summary>How long the throttle still lasts.</summary>
    public TimeSpan ThrottledFor => ThrottledUntil - time.GetUtcNow();

    /// <summary>The circuit's decision, except that a throttled server is refused.</summary>
    public CircuitDecision Decide() => Throttled ? CircuitDecision.Refuse : circuit.Decide();

    /// <summary>The server asked to be left alone (HTTP 429); a later end already promised is kept.</summary>
    public void Throttle(TimeSpan? retryAfter, string? reason)
    {
        var until = time.GetUtcNow() + (retryAfter ?? BackendFailures.DefaultRetryAfter);
        if (until > ThrottledUntil)
            ThrottledUntil = until;
        ThrottleReason = reason;
    }

    public ServerHealth Health(int inFlight)
    {
        var c = circuit.State;
        return new ServerHealth(server.Url.ToString(), c.State, c.LastChecked, c.LastError, c.ConsecutiveFailures, c.LatencyMs,
            inFlight, server.Parallelism, Throttled ? ThrottledUntil : null);
    }
}
