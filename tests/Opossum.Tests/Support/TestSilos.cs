using System.Net;

namespace Opossum.Tests.Support;

/// <summary>Silo addresses for grain calls a test makes on a silo's behalf.</summary>
public static class TestSilos
{
    /// <summary>A silo that is not in the cluster: its slots are never reclaimed as a dead member's.</summary>
    public static readonly SiloAddress Anywhere = SiloAddress.New(new IPEndPoint(IPAddress.Loopback, 1), 1);
}
