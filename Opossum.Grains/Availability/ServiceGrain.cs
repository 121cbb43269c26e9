using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Opossum.Grains.Backends;
using Opossum.Grains.Telemetry;
using Orleans.Concurrency;
using static Opossum.Grains.Telemetry.OpossumTelemetry;

namespace Opossum.Grains.Availability;

/// <summary>Stored availability of one backend service, including its circuit.</summary>
[GenerateSerializer]
public sealed class ServiceHealthState
{
    [Id(0)] public ServiceState State { get; set; }
    [Id(1)] public DateTimeOffset? LastChecked { get; set; }
    [Id(2)] public string? LastError { get; set; }
    [Id(3)] public int ConsecutiveFailures { get; set; }
    [Id(4)] public double? LatencyMs { get; set; }
    /// <summary>When the circuit last opened; null while closed.</summary>
    [Id(5)] public DateTimeOffset? OpenedAt { get; set; }
}

/// <summary>
/// Availability of one backend service: active checks on a grain timer and on demand, passive
/// reports from every generation, and a circuit breaker. After <c>FailureThreshold</c> consecutive
/// failures the service is OFFLINE and gets no traffic; once the cool-down has passed, one probe
/// (half-open) closes the circuit again or re-opens it. Reentrant so reads never wait behind a
/// slow check; concurrent checks share one probe. State is persisted, so a new activation (another
/// silo, a restart) remembers an open circuit.
/// </summary>
[Reentrant]
public sealed class ServiceGrain(
    [PersistentState("service", ProviderNames.Storage)] IPersistentState<ServiceHealthState> health,
    BackendRegistry backends,
    IOptions<AvailabilityOptions> options,
    [FromKeyedServices(ProviderNames.Clock)] TimeProvider time,
    ILogger<ServiceGrain> logger) : Grain, IServiceGrain
{
    private Task<ServiceHealth>? _runningCheck;

    /// <summary>Model grains holding a standing admission; told when the service stops being healthy.</summary>
    private readonly HashSet<string> _standing = new(StringComparer.Ordinal);

    private string Name => this.GetPrimaryKeyString();
    private AvailabilityOptions Options => options.Value;
    private ServiceHealthState S => health.State;
    private bool CircuitOpen => S.OpenedAt is not null;
    private bool CoolingDown => S.OpenedAt is { } opened && time.GetUtcNow() < opened + Options.CoolDown;

    /// <summary>Nothing to count or watch: admissions may stand until revoked.</summary>
    private bool Healthy => !CircuitOpen && S.ConsecutiveFailures == 0 && S.State is ServiceState.Online or ServiceState.Degraded;

    /// <summary>
    /// How long a standing admission lasts without news: revocation is the rule; this bound only
    /// matters if this activation was lost (another silo took over) along with the list of holders.
    /// </summary>
    public static readonly TimeSpan StandingAdmission = TimeSpan.FromSeconds(10);

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Timer ticks start their own root traces by design; KeepAlive keeps the monitor running while idle.
        // A re-activation (another silo took over) keeps the persisted result until it is due again.
        var sinceLastCheck = S.LastChecked is { } last ? time.GetUtcNow() - last : Options.CheckPeriod;
        this.RegisterGrainTimer(_ => CoolingDown ? Task.CompletedTask : Check(), new GrainTimerCreationOptions
        {
            DueTime = sinceLastCheck >= Options.CheckPeriod || sinceLastCheck < TimeSpan.Zero ? TimeSpan.Zero : Options.CheckPeriod - sinceLastCheck,
            Period = Options.CheckPeriod,
            Interleave = true,
            KeepAlive = true,
        });
        Publish();
        return Task.CompletedTask;
    }

    public Task<ServiceHealth> GetHealth() => Task.FromResult(Snapshot());

    public Task<ServiceHealth> Check() =>
        _runningCheck is { IsCompleted: false } running ? running : _runningCheck = RunCheckAsync();

    public async Task<Admission> Admit(string model)
    {
        var allowed = await AllowRequest();
        if (allowed && Healthy) // allowed: the backend is enabled here
        {
            _standing.Add(model);
            return new Admission(true, CountingFailures: false, StandingAdmission);
        }
        return new Admission(allowed, S.ConsecutiveFailures > 0 || S.State == ServiceState.Unknown);
    }

    public async Task<bool> AllowRequest()
    {
        if (backends.Find(Name) is null) return false;
        if (!CircuitOpen) return true;
        if (CoolingDown) return false;
        return (await Check()).Available; // half-open: one probe decides for everyone waiting on it
    }

    public async Task ReportSuccess()
    {
        if (CircuitOpen || (S.ConsecutiveFailures == 0 && S.State is ServiceState.Online or ServiceState.Degraded)) return;
        S.ConsecutiveFailures = 0;
        S.LastError = null;
        if (S.State == ServiceState.Unknown) S.State = ServiceState.Online;
        await SaveAsync();
    }

    public async Task ReportFailure(string reason)
    {
        if (CircuitOpen) return; // no traffic is sent while open; a straggler changes nothing
        RecordFailure(reason);
        await SaveAsync();
    }

    private async Task<ServiceHealth> RunCheckAsync()
    {
        await ProbeAsync();
        await SaveAsync();
        return Snapshot();
    }

    private async Task ProbeAsync()
    {
        using var activity = Source.StartActivity(Spans.ServiceCheck);
        activity?.SetTag(Tags.ServiceName, Name);
        activity?.AddEvent(new ActivityEvent("check_started"));
        var started = Stopwatch.GetTimestamp();
        try
        {
            if (backends.Find(Name) is not { } backend)
            {
                // Not a failure of the service: it is switched off here. Say so, and never send it traffic.
                S.State = ServiceState.Offline;
                S.LastError = DisabledReason();
                activity?.SetTag(Tags.ServiceAvailable, false);
                activity?.AddEvent(new ActivityEvent("check_completed", tags: new() { ["result"] = "disabled" }));
                return;
            }
            await backend.CheckAsync(CancellationToken.None);
            var latency = Stopwatch.GetElapsedTime(started);
            RecordSuccess(latency);
            activity?.SetTag(Tags.ServiceAvailable, true);
            activity?.AddEvent(new ActivityEvent("check_completed", tags: new() { ["result"] = S.State == ServiceState.Degraded ? "degraded" : "available" }));
        }
        catch (BackendCheckException ex)
        {
            RecordFailure(ex.Message);
            activity?.SetTag(Tags.ServiceAvailable, false);
            activity?.AddEvent(new ActivityEvent("check_failed", tags: new() { ["error"] = ex.Message }));
            activity.RecordFailure(ex);
        }
        finally
        {
            S.LastChecked = time.GetUtcNow();
        }
    }

    private void RecordSuccess(TimeSpan latency)
    {
        if (CircuitOpen)
            logger.LogInformation("Service {Service} answered again; circuit closed", Name);
        S.OpenedAt = null;
        S.ConsecutiveFailures = 0;
        S.LastError = null;
        S.LatencyMs = latency.TotalMilliseconds;
        S.State = latency > Options.DegradedLatency ? ServiceState.Degraded : ServiceState.Online;
    }

    private void RecordFailure(string reason)
    {
        S.ConsecutiveFailures++;
        S.LastError = reason;
        S.LatencyMs = null;
        if (CircuitOpen || S.ConsecutiveFailures >= Options.FailureThreshold)
        {
            if (!CircuitOpen)
                logger.LogWarning("Service {Service} is OFFLINE after {Failures} consecutive failures: {Reason}", Name, S.ConsecutiveFailures, reason);
            S.State = ServiceState.Offline;
            S.OpenedAt = time.GetUtcNow(); // (re)open: the cool-down starts again
        }
    }

    private string DisabledReason() => Name == "gemini"
        ? "disabled: GEMINI_API_KEY is not set"
        : $"disabled: no backend named '{Name}' is enabled on this server";

    private async Task SaveAsync()
    {
        await health.WriteStateAsync();
        Publish();
        if (!Healthy && _standing.Count > 0)
            await RevokeStandingAdmissionsAsync();
    }

    // Awaited, so a check or report that made the service unhealthy completes only once every holder knows.
    // A holder that cannot be reached in time (its silo is dying) keeps trusting at most until its lease runs out.
    private async Task RevokeStandingAdmissionsAsync()
    {
        var holders = _standing.ToList();
        _standing.Clear();
        try
        {
            await Task.WhenAll(holders.Select(model => GrainFactory.GetGrain<IModelGrain>(model).RevokeAdmission()))
                .WaitAsync(RevocationWait);
        }
        catch (Exception ex) when (ex is TimeoutException or OrleansException)
        {
            logger.LogWarning("Service {Service}: not every model grain heard that its admission was revoked ({Reason}); " +
                "those stop trusting it within {Lease} s", Name, ex.Message, StandingAdmission.TotalSeconds);
        }
    }

    private static readonly TimeSpan RevocationWait = TimeSpan.FromSeconds(2);

    private void Publish() => SetServiceAvailable(Name, Snapshot().Available);

    private ServiceHealth Snapshot() => new(Name, S.State, S.LastChecked, S.LastError, S.ConsecutiveFailures, S.LatencyMs);
}
