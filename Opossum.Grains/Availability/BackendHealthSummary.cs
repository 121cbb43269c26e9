using Opossum.Grains.Backends;

namespace Opossum.Grains.Availability;

/// <summary>
/// A backend's health from its servers': the only server's, or with several, available while any is and
/// DEGRADED while some are not (less capacity); and the error that says why no server can take traffic.
/// </summary>
public static class BackendHealthSummary
{
    /// <summary>A backend switched off on this server: OFFLINE, with the reason.</summary>
    public static ServiceHealth Disabled(string backend) =>
        new(backend, ServiceState.Offline, null, BackendRegistry.DisabledReason(backend), 0, null, []);

    public static ServiceHealth Of(string backend, IReadOnlyList<ServerAvailability> servers, Func<int, int> inFlight)
    {
        var healths = servers.Select(s => s.Health(inFlight(s.Server.Index))).ToList();
        if (healths.Count == 1)
        {
            var only = healths[0];
            return new ServiceHealth(backend, only.State, only.LastChecked, only.LastError ?? ThrottleNote(servers[0]),
                only.ConsecutiveFailures, only.LatencyMs, healths);
        }
        var available = healths.Where(s => s.Available).ToList();
        var state = healths.All(s => s.State == ServiceState.Online) ? ServiceState.Online
            : available.Count > 0 ? ServiceState.Degraded
            : healths.Any(s => s.State == ServiceState.Unknown) ? ServiceState.Unknown : ServiceState.Offline;
        var troubled = healths.FirstOrDefault(s => s.LastError is not null);
        return new ServiceHealth(backend, state, healths.Max(s => s.LastChecked),
            troubled is null ? null : $"{troubled.Url}: {troubled.LastError}",
            available.Count > 0 ? 0 : healths.Min(s => s.ConsecutiveFailures),
            available.Select(s => s.LatencyMs).Min(), healths);
    }

    /// <summary>Why no server of the backend can take traffic: each one's open circuit or throttle.</summary>
    public static OpossumException Unavailable(string backend, IReadOnlyList<ServerAvailability> servers)
    {
        if (servers.Count == 1)
        {
            var only = servers[0];
            return only.Throttled
                ? Throttled(backend, only)
                : new OpossumException(ErrorCodes.BackendUnavailable,
                    $"Backend '{backend}' is OFFLINE (circuit open after {only.Circuit.State.ConsecutiveFailures} consecutive failures; last error: {only.Circuit.State.LastError}).");
        }
        return new OpossumException(ErrorCodes.BackendUnavailable,
            $"Backend '{backend}' is OFFLINE: no server can take traffic ({string.Join("; ", servers.Select(s => $"{s.Server.Url}: " +
                (s.Throttled ? $"rate-limited for {s.ThrottledFor.TotalSeconds:0.#} s more" : $"circuit open, last error: {s.Circuit.State.LastError}")))}).");
    }

    private static OpossumException Throttled(string backend, ServerAvailability server) => new(ErrorCodes.BackendUnavailable,
        $"Backend '{backend}' is rate-limiting ({server.ThrottleReason}); no traffic for {server.ThrottledFor.TotalSeconds:0.#} s more.",
        retryAfter: server.ThrottledFor);

    private static string? ThrottleNote(ServerAvailability server) =>
        server.Throttled ? $"rate-limited for {server.ThrottledFor.TotalSeconds:0.#} s more: {server.ThrottleReason}" : null;
}
