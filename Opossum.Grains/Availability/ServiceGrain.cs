using Microsoft.Extensions.Hosting;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Opossum.Grains.Backends;
using Opossum.Grains.Telemetry;
using Orleans.Concurrency;
using static Opossum.Grains.Telemetry.OpossumTelemetry;

namespace Opossum.Grains.Availability;

/// <summary>Stored availability of a backend's servers, by URL (a server added or removed keeps the others' state).</summary>
[GenerateSerializer]
public sealed class BackendServersState
{
    [Id(0)] public Dictionary<string, CircuitState> Servers { get; set; } = new(StringComparer.Ordinal);
}

/// <summary>
/// One backend service and its servers, for the whole cluster. Each server has a circuit (checked on a
/// grain timer and on demand, fed by the outcome of every generation) and a number of slots, its
/// parallelism: a generation leases a slot on the available server with the fewest in flight and waits,
/// in arrival order, while every slot is taken. A 429 keeps traffic away from a server for its
/// Retry-After without counting as a failure. Reentrant so reads and releases never wait behind a slow
/// check. Circuit state is persisted (an open circuit survives a restart); slots live in memory, and
/// those held by a silo that died, or asked for by a call its caller saw fail, are given back.
/// </summary>
[Reentrant]
public sealed class ServiceGrain(
    [PersistentState("servers", ProviderNames.Storage)] IPersistentState<BackendServersState> stored,
    BackendRegistry backends,
    IOptions<AvailabilityOptions> options,
    [FromKeyedServices(ProviderNames.Clock)] TimeProvider time,
    IClusterMembershipService membership,
    IHostApplicationLifetime lifetime,
    ILogger<ServiceGrain> logger) : Grain, IServiceGrain
{
    private IChatBackend? _backend;
    private Server[] _servers = [];
    private readonly LinkedList<Waiter> _waiters = new();
    private readonly Dictionary<Guid, long> _abandoned = [];
    private long _lastLease;
    private long _grants;

    private string Name => this.GetPrimaryKeyString();
    private AvailabilityOptions Options => options.Value;

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        _backend = backends.Find(Name);
        _servers = (_backend?.Servers ?? []).Select(s =>
        {
            var key = s.Url.ToString();
            if (!stored.State.Servers.TryGetValue(key, out var circuit))
                stored.State.Servers[key] = circuit = new CircuitState();
            return new Server(s, new CircuitBreaker(circuit, Options, time));
        }).ToArray();

        // Timer ticks start their own root traces by design; KeepAlive keeps the monitor running while idle.
        // A re-activation (another silo took over) keeps the persisted result until it is due again.
        var lastChecked = _servers.Select(s => s.Circuit.State.LastChecked).Min();
        var since = lastChecked is { } last ? time.GetUtcNow() - last : Options.CheckPeriod;
        this.RegisterGrainTimer(_ => CheckAsync(operatorCheck: false), new GrainTimerCreationOptions
        {
            DueTime = since >= Options.CheckPeriod || since < TimeSpan.Zero ? TimeSpan.Zero : Options.CheckPeriod - since,
            Period = Options.CheckPeriod,
            Interleave = true,
            KeepAlive = true,
        });
        // Slots held by a silo that died, or for longer than any generation may take, come back; a throttle that ended frees waiters.
        this.RegisterGrainTimer(_ => { Reclaim(); HandOff(); return Task.CompletedTask; }, new GrainTimerCreationOptions
        {
            DueTime = ReclaimPeriod,
            Period = ReclaimPeriod,
            Interleave = true,
        });
        Publish();
        return Task.CompletedTask;
    }

    private static readonly TimeSpan ReclaimPeriod = TimeSpan.FromSeconds(1);

    public Task<ServiceHealth> GetHealth() => Task.FromResult(Snapshot());

    public Task<ServiceHealth> Check() => CheckAsync(operatorCheck: true);

    public async Task<Lease> Acquire(string model, SiloAddress holder, int[]? avoid = null, Guid ticket = default, CancellationToken cancellationToken = default)
    {
        if (_abandoned.Remove(ticket))
            throw new OrleansException($"The request for a slot of backend '{Name}' was given up by its caller before it arrived.");
        if (_backend is null)
            throw new OpossumException(ErrorCodes.BackendUnavailable, $"Backend '{Name}' is {DisabledReason()}.");
        var started = Stopwatch.GetTimestamp();
        while (true)
        {
            // Half-open servers get their one probe first; everyone waiting on it shares it.
            var probes = _servers.Where(s => !s.Throttled(time) && s.Circuit.Decide() == CircuitDecision.Probe && avoid?.Contains(s.Config.Index) != true).ToList();
            if (probes.Count > 0)
            {
                await Task.WhenAll(probes.Select(ProbeOnceAsync));
                continue;
            }
            if (!Usable(avoid).Any())
                throw Unavailable();
            if (_waiters.Count == 0 && Pick(avoid) is { } free)
                return Grant(free, holder, ticket, Stopwatch.GetElapsedTime(started));
            return await WaitForSlotAsync(holder, avoid, ticket, started, cancellationToken);
        }
    }

    public async Task Release(Lease lease, GenerationOutcome outcome)
    {
        if (lease.Server >= _servers.Length) return;
        var server = _servers[lease.Server];
        server.Leases.Remove(lease.Id); // a lease of an earlier activation is unknown here: nothing to give back
        var changed = false;
        switch (outcome.Kind)
        {
            case OutcomeKind.Succeeded:
                changed = server.Circuit.GenerationSucceeded();
                break;
            case OutcomeKind.Failed:
                if (server.Circuit.IsOpen) break; // no traffic is sent while open; a straggler changes nothing
                if (server.Circuit.Failed(outcome.Reason ?? "generation failed", check: false))
                    LogOpened(server);
                changed = true;
                break;
            case OutcomeKind.Throttled:
                var until = time.GetUtcNow() + (outcome.RetryAfter ?? BackendFailures.DefaultRetryAfter);
                if (until > server.ThrottledUntil)
                    server.ThrottledUntil = until;
                server.ThrottleReason = outcome.Reason;
                break;
        }
        HandOff();
        if (changed)
            await SaveAsync();
    }

    // Slots are about real durations (how long a generation may hold one, how long to queue), so they use the
    // real clock; the circuit and throttles use the injected one, which tests move.
    private async Task<Lease> WaitForSlotAsync(SiloAddress holder, int[]? avoid, Guid ticket, long started, CancellationToken cancellationToken)
    {
        var waiter = new Waiter(holder, avoid, ticket, started);
        var node = _waiters.AddLast(waiter);
        Lease? granted = null;
        // A silo that is stopping takes no releases any more, so its waiters would wait out the queue timeout, and
        // hold the silo's shutdown that long: they are sent to ask again, which reaches the grain's next activation.
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, lifetime.ApplicationStopping);
        try
        {
            return granted = await waiter.Granted.Task.WaitAsync(_backend!.QueueTimeout, wait.Token);
        }
        catch (OperationCanceledException) when (lifetime.ApplicationStopping.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new OrleansException($"The silo of backend '{Name}''s slots is stopping; the request is retried on the silo that takes them over.");
        }
        catch (TimeoutException)
        {
            throw new OpossumException(ErrorCodes.BackendUnavailable,
                $"Backend '{Name}' is busy: every slot ({string.Join(", ", _servers.Select(s => $"{s.Config.Parallelism} on {s.Config.Url}"))}) " +
                $"stayed taken for {_backend!.QueueTimeout.TotalSeconds:0.#} s.");
        }
        finally
        {
            if (node.List is not null)
                _waiters.Remove(node);
            // Granted just as the wait gave up (timeout or the caller's cancellation): give the slot back.
            if (granted is null && waiter.Granted.Task.IsCompletedSuccessfully)
                await Release(waiter.Granted.Task.Result, GenerationOutcome.Inconclusive);
        }
    }

    /// <summary>Gives free slots to the waiters, first come first served; fails those for which no server can take traffic.</summary>
    private void HandOff()
    {
        for (var node = _waiters.First; node is not null;)
        {
            var next = node.Next;
            var waiter = node.Value;
            if (!Usable(waiter.Avoid).Any())
            {
                _waiters.Remove(node);
                waiter.Granted.TrySetException(Unavailable());
            }
            else if (Pick(waiter.Avoid) is { } free)
            {
                _waiters.Remove(node);
                waiter.Granted.TrySetResult(Grant(free, waiter.Holder, waiter.Ticket, Stopwatch.GetElapsedTime(waiter.Started)));
            }
            else if (waiter.Avoid is null)
            {
                return; // no slot for the first in line: none for those behind it either
            }
            node = next;
        }
    }

    private Lease Grant(Server server, SiloAddress holder, Guid ticket, TimeSpan waited)
    {
        var lease = new Lease(++_lastLease, server.Config.Index, waited);
        server.Leases[lease.Id] = new Holding(holder, ticket, Stopwatch.GetTimestamp() + (long)((_backend!.RequestTimeout + LeaseMargin).TotalSeconds * Stopwatch.Frequency));
        server.LastGrant = ++_grants;
        return lease;
    }

    private static readonly TimeSpan LeaseMargin = TimeSpan.FromSeconds(30);

    // Servers that may take traffic now (perhaps after waiting for a slot).
    private IEnumerable<Server> Usable(int[]? avoid = null) =>
        _servers.Where(s => !s.Throttled(time) && s.Circuit.Decide() != CircuitDecision.Refuse && avoid?.Contains(s.Config.Index) != true);

    // The usable server with a free slot and the fewest generations in flight; of equals, the one that waited longest.
    private Server? Pick(int[]? avoid = null) => Usable(avoid)
        .Where(s => s.Circuit.Decide() == CircuitDecision.Send && s.Leases.Count < s.Config.Parallelism)
        .OrderBy(s => s.Leases.Count).ThenBy(s => s.LastGrant)
        .FirstOrDefault();

    public Task Abandon(Guid ticket)
    {
        // Nobody waits for this answer: a waiter leaves the queue, a granted slot is free again. A call that has not
        // arrived yet (passed on by a silo that stopped) is refused when it does.
        if (ticket == Guid.Empty) return Task.CompletedTask;
        if (_waiters.FirstOrDefault(w => w.Ticket == ticket) is { } waiter)
        {
            waiter.Granted.TrySetException(new OrleansException($"The request for a slot of backend '{Name}' was given up by its caller."));
            return Task.CompletedTask;
        }
        foreach (var server in _servers)
        {
            foreach (var (id, holding) in server.Leases)
            {
                if (holding.Ticket != ticket) continue;
                server.Leases.Remove(id);
                HandOff();
                return Task.CompletedTask;
            }
        }
        _abandoned[ticket] = Stopwatch.GetTimestamp() + (long)(LeaseMargin.TotalSeconds * Stopwatch.Frequency);
        return Task.CompletedTask;
    }

    private void Reclaim()
    {
        var now = Stopwatch.GetTimestamp();
        foreach (var (ticket, until) in _abandoned.ToList())
        {
            if (until < now)
                _abandoned.Remove(ticket);
        }
        var members = membership.CurrentSnapshot;
        foreach (var server in _servers)
        {
            foreach (var (id, holding) in server.Leases.ToList())
            {
                if (holding.Expires < now || members.GetSiloStatus(holding.Holder) == SiloStatus.Dead)
                    server.Leases.Remove(id);
            }
        }
    }

    private OpossumException Unavailable()
    {
        if (_servers.Length == 1)
        {
            var only = _servers[0];
            return only.Throttled(time)
                ? Throttled(only)
                : new OpossumException(ErrorCodes.BackendUnavailable,
                    $"Backend '{Name}' is OFFLINE (circuit open after {only.Circuit.State.ConsecutiveFailures} consecutive failures; last error: {only.Circuit.State.LastError}).");
        }
        return new OpossumException(ErrorCodes.BackendUnavailable,
            $"Backend '{Name}' is OFFLINE: no server can take traffic ({string.Join("; ", _servers.Select(s => $"{s.Config.Url}: " +
                (s.Throttled(time) ? $"rate-limited for {(s.ThrottledUntil - time.GetUtcNow()).TotalSeconds:0.#} s more" : $"circuit open, last error: {s.Circuit.State.LastError}")))}).");
    }

    private OpossumException Throttled(Server server) => new(ErrorCodes.BackendUnavailable,
        $"Backend '{Name}' is rate-limiting ({server.ThrottleReason}); no traffic for {(server.ThrottledUntil - time.GetUtcNow()).TotalSeconds:0.#} s more.",
        retryAfter: server.ThrottledUntil - time.GetUtcNow());

    private async Task<ServiceHealth> CheckAsync(bool operatorCheck)
    {
        // The timer leaves a cooling-down circuit alone; an operator's check probes it anyway.
        await Task.WhenAll(_servers.Where(s => operatorCheck || !s.Circuit.CoolingDown).Select(ProbeOnceAsync));
        return Snapshot();
    }

    private Task ProbeOnceAsync(Server server) =>
        server.RunningCheck is { IsCompleted: false } running ? running : server.RunningCheck = ProbeAsync(server);

    private async Task ProbeAsync(Server server)
    {
        using (var activity = Source.StartActivity(Spans.ServiceCheck))
        {
            activity?.SetTag(Tags.ServiceName, Name);
            if (_servers.Length > 1) activity?.SetTag(Tags.ServerAddress, server.Config.Url.ToString());
            activity?.AddEvent(new ActivityEvent("check_started"));
            var started = Stopwatch.GetTimestamp();
            try
            {
                await _backend!.CheckAsync(server.Config, CancellationToken.None);
                if (server.Circuit.CheckSucceeded(Stopwatch.GetElapsedTime(started)))
                    logger.LogInformation("Service {Service} ({Server}) answered again; circuit closed", Name, server.Config.Url);
                activity?.SetTag(Tags.ServiceAvailable, true);
                activity?.AddEvent(new ActivityEvent("check_completed", tags: new() { ["result"] = server.Circuit.State.State == ServiceState.Degraded ? "degraded" : "available" }));
            }
            catch (BackendCheckException ex)
            {
                if (server.Circuit.Failed(ex.Message, check: true))
                    LogOpened(server);
                activity?.SetTag(Tags.ServiceAvailable, false);
                activity?.AddEvent(new ActivityEvent("check_failed", tags: new() { ["error"] = ex.Message }));
                activity.RecordFailure(ex);
            }
        }
        HandOff();
        await SaveAsync();
    }

    private void LogOpened(Server server) =>
        logger.LogWarning("Service {Service} ({Server}) is OFFLINE after {Failures} consecutive failures: {Reason}",
            Name, server.Config.Url, server.Circuit.State.ConsecutiveFailures, server.Circuit.State.LastError);

    private string DisabledReason() => Name == "gemini"
        ? "disabled: GEMINI_API_KEY is not set"
        : $"disabled: no backend named '{Name}' is enabled on this server";

    private async Task SaveAsync()
    {
        await stored.WriteStateAsync();
        Publish();
    }

    private void Publish() => SetServiceAvailable(Name, Snapshot().Available);

    private ServiceHealth Snapshot()
    {
        if (_backend is null)
            return new ServiceHealth(Name, ServiceState.Offline, null, DisabledReason(), 0, null, []);
        var servers = _servers.Select(s => s.Health(time)).ToList();
        if (servers.Count == 1)
        {
            var only = servers[0];
            return new ServiceHealth(Name, only.State, only.LastChecked, only.LastError ?? ThrottleNote(_servers[0]), only.ConsecutiveFailures, only.LatencyMs, servers);
        }
        // Several servers: available while any is; DEGRADED while some are not (less capacity), with why.
        var available = servers.Where(s => s.Available).ToList();
        var state = servers.All(s => s.State == ServiceState.Online) ? ServiceState.Online
            : available.Count > 0 ? ServiceState.Degraded
            : servers.Any(s => s.State == ServiceState.Unknown) ? ServiceState.Unknown : ServiceState.Offline;
        var troubled = servers.FirstOrDefault(s => s.LastError is not null);
        return new ServiceHealth(Name, state, servers.Max(s => s.LastChecked),
            troubled is null ? null : $"{troubled.Url}: {troubled.LastError}",
            available.Count > 0 ? 0 : servers.Min(s => s.ConsecutiveFailures),
            available.Select(s => s.LatencyMs).Min(), servers);
    }

    private string? ThrottleNote(Server server) =>
        server.Throttled(time) ? $"rate-limited for {(server.ThrottledUntil - time.GetUtcNow()).TotalSeconds:0.#} s more: {server.ThrottleReason}" : null;

    /// <summary>One server at run time: its circuit, the slots leased on it, and any throttle.</summary>
    private sealed class Server(BackendServer config, CircuitBreaker circuit)
    {
        public BackendServer Config { get; } = config;
        public CircuitBreaker Circuit { get; } = circuit;
        public Dictionary<long, Holding> Leases { get; } = [];
        public DateTimeOffset ThrottledUntil { get; set; }
        public string? ThrottleReason { get; set; }
        public long LastGrant { get; set; }
        public Task? RunningCheck { get; set; }

        public bool Throttled(TimeProvider time) => ThrottledUntil > time.GetUtcNow();

        public ServerHealth Health(TimeProvider time)
        {
            var c = Circuit.State;
            return new ServerHealth(Config.Url.ToString(), c.State, c.LastChecked, c.LastError, c.ConsecutiveFailures, c.LatencyMs,
                Leases.Count, Config.Parallelism, Throttled(time) ? ThrottledUntil : null);
        }
    }

    private sealed record Holding(SiloAddress Holder, Guid Ticket, long Expires);

    private sealed class Waiter(SiloAddress holder, int[]? avoid, Guid ticket, long started)
    {
        public SiloAddress Holder { get; } = holder;
        public int[]? Avoid { get; } = avoid;
        public Guid Ticket { get; } = ticket;
        public long Started { get; } = started;
        public TaskCompletionSource<Lease> Granted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
