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

    /// <summary>What makes these settings unusable, one sentence each; none when they are fine.</summary>
    public IEnumerable<string> Problems()
    {
        if (CheckPeriod < TimeSpan.FromSeconds(1)) yield return $"{Section}:CheckPeriod must be at least 1 s.";
        if (DegradedLatency <= TimeSpan.Zero) yield return $"{Section}:DegradedLatency must be positive.";
        if (FailureThreshold <= 0) yield return $"{Section}:FailureThreshold must be at least 1.";
        if (CoolDown <= TimeSpan.Zero) yield return $"{Section}:CoolDown must be positive.";
    }
}
