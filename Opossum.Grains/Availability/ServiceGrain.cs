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
/// parallelism, handed out by a <see cref="SlotQueue"/>. A 429 keeps traffic away from a server for its
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
    // Slots are about real durations (how long a generation may hold one, how long to queue), so they use the
    // real clock; the circuit and throttles use the injected one, which tests move.
    private static readonly TimeProvider SlotClock = TimeProvider.System;
    private static readonly TimeSpan ReclaimPeriod = TimeSpan.FromSeconds(1);

    private IChatBackend? _backend;
    private ServerAvailability[] _servers = [];
    private Task?[] _checks = [];
    private SlotQueue _slots = null!;

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
            return new ServerAvailability(s, new CircuitBreaker(circuit, Options, time), time);
        }).ToArray();
        _checks = new Task?[_servers.Length];
        _slots = new SlotQueue(Name, _servers, _backend?.RequestTimeout ?? TimeSpan.Zero, _backend?.QueueTimeout ?? TimeSpan.Zero,
            SlotClock, lifetime.ApplicationStopping);

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
        this.RegisterGrainTimer(_ =>
        {
            var members = membership.CurrentSnapshot;
            _slots.Reclaim(holder => members.GetSiloStatus(holder) == SiloStatus.Dead);
            _slots.HandOff();
            return Task.CompletedTask;
        }, new GrainTimerCreationOptions
        {
            DueTime = ReclaimPeriod,
            Period = ReclaimPeriod,
            Interleave = true,
        });
        Publish();
        return Task.CompletedTask;
    }

    public Task<ServiceHealth> GetHealth() => Task.FromResult(Snapshot());

    public Task<ServiceHealth> Check() => CheckAsync(operatorCheck: true);

    public async Task<Slot> Acquire(string model, SiloAddress holder, int[]? avoid = null, Guid ticket = default, CancellationToken cancellationToken = default)
    {
        _slots.Arrived(ticket);
        if (_backend is null)
            throw BackendRegistry.Disabled(Name);
        var started = SlotClock.GetTimestamp();
        // Half-open servers get their one probe first; everyone waiting on it shares it.
        while (_servers.Where(s => s.Decide() == CircuitDecision.Probe && avoid?.Contains(s.Server.Index) != true).ToList() is { Count: > 0 } probes)
            await Task.WhenAll(probes.Select(ProbeOnceAsync));
        return await _slots.AcquireAsync(holder, avoid, ticket, started, cancellationToken);
    }

    public async Task Release(Slot slot, GenerationOutcome outcome)
    {
        if (slot.Server >= _servers.Length) return;
        var server = _servers[slot.Server];
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
                server.Throttle(outcome.RetryAfter, outcome.Reason);
                break;
        }
        _slots.Release(slot);
        if (changed)
            await SaveAsync();
    }

    public Task Abandon(Guid ticket)
    {
        _slots.Abandon(ticket);
        return Task.CompletedTask;
    }

    private async Task<ServiceHealth> CheckAsync(bool operatorCheck)
    {
        // The timer leaves a cooling-down circuit alone; an operator's check probes it anyway.
        await Task.WhenAll(_servers.Where(s => operatorCheck || !s.Circuit.CoolingDown).Select(ProbeOnceAsync));
        return Snapshot();
    }

    private Task ProbeOnceAsync(ServerAvailability server) =>
        _checks[server.Server.Index] is { IsCompleted: false } running ? running : _checks[server.Server.Index] = ProbeAsync(server);

    private async Task ProbeAsync(ServerAvailability server)
    {
        using (var activity = Source.StartActivity(Spans.ServiceCheck))
        {
            activity?.SetTag(Tags.GenAiProviderName, Name);
            if (_servers.Length > 1) activity?.SetTag(Tags.ServerAddress, server.Server.Url.ToString());
            activity?.AddEvent(new ActivityEvent("check_started"));
            var started = Stopwatch.GetTimestamp();
            try
            {
                await _backend!.CheckAsync(server.Server, CancellationToken.None);
                if (server.Circuit.CheckSucceeded(Stopwatch.GetElapsedTime(started)))
                    logger.LogInformation("Service {Service} ({Server}) answered again; circuit closed", Name, server.Server.Url);
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
        _slots.HandOff();
        await SaveAsync();
    }

    private void LogOpened(ServerAvailability server) =>
        logger.LogWarning("Service {Service} ({Server}) is OFFLINE after {Failures} consecutive failures: {Reason}",
            Name, server.Server.Url, server.Circuit.State.ConsecutiveFailures, server.Circuit.State.LastError);

    private async Task SaveAsync()
    {
        await stored.WriteStateAsync();
        Publish();
    }

    private void Publish() => SetServiceAvailable(Name, Snapshot().Available);

    private ServiceHealth Snapshot() => _backend is null
        ? BackendHealthSummary.Disabled(Name)
        : BackendHealthSummary.Of(Name, _servers, _slots.InFlight);
}
