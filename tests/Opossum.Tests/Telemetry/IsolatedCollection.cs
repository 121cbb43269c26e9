using Opossum.Tests.Gateway;

namespace Opossum.Tests.Telemetry;

/// <summary>
/// Tests that read process-wide telemetry (every tracer and meter in this test process sees every
/// span and measurement), so they run alone, after the parallel collections.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class IsolatedCollection : ICollectionFixture<GatewayFixture>
{
    public const string Name = "isolated";
}
