namespace Opossum.Grains.Availability;

/// <summary>How backend availability is checked and when the circuit opens (section <c>Opossum:Availability</c>).</summary>
public sealed class AvailabilityOptions
{
    public const string Section = "Opossum:Availability";

    /// <summary>Period of the active check on each service grain's timer.</summary>
    public TimeSpan CheckPeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A check slower than this marks the service DEGRADED (it answers, slowly).</summary>
    public TimeSpan DegradedLatency { get; set; } = TimeSpan.FromMilliseconds(1000);

    /// <summary>Consecutive failures (checks or generations) that open the circuit: the service goes OFFLINE.</summary>
    public int FailureThreshold { get; set; } = 3;

    /// <summary>How long an open circuit refuses traffic before one probe may close it again.</summary>
    public TimeSpan CoolDown { get; set; } = TimeSpan.FromSeconds(60);
}
