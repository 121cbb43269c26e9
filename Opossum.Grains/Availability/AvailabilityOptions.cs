namespace Opossum.Grains.Availability;

/// <summary>How backend availability is checked (section <c>Opossum:Availability</c>).</summary>
public sealed class AvailabilityOptions
{
    public const string Section = "Opossum:Availability";

    /// <summary>Period of the active check on each service grain's timer.</summary>
    public TimeSpan CheckPeriod { get; set; } = TimeSpan.FromSeconds(30);
}
