using Microsoft.Extensions.DependencyInjection;
using Orleans.Concurrency;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Opossum.Grains.Backends;
using Opossum.Grains.Telemetry;
using static Opossum.Grains.Telemetry.OpossumTelemetry;

namespace Opossum.Grains.Availability;

/// <summary>Stored availability of one backend service.</summary>
[GenerateSerializer]
public sealed class ServiceHealthState
{
    [Id(0)] public ServiceState State { get; set; }
    [Id(1)] public DateTimeOffset? LastChecked { get; set; }
    [Id(2)] public string? LastError { get; set; }
    [Id(3)] public int ConsecutiveFailures { get; set; }
    [Id(4)] public double? LatencyMs { get; set; }
}

/// <summary>
/// Availability of one backend service, checked on a grain timer and on demand. Reentrant so that
/// reads never wait behind a slow check; concurrent checks share one probe.
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

    private string Name => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        // Timer ticks start their own root traces by design; KeepAlive keeps the monitor running while idle.
        this.RegisterGrainTimer(_ => Check(), new GrainTimerCreationOptions
        {
            DueTime = TimeSpan.Zero,
            Period = options.Value.CheckPeriod,
            Interleave = true,
            KeepAlive = true,
        });
        Publish();
        return Task.CompletedTask;
    }

    public Task<ServiceHealth> GetHealth() => Task.FromResult(Snapshot());

    public Task<ServiceHealth> Check() =>
        _runningCheck is { IsCompleted: false } running ? running : _runningCheck = RunCheckAsync();

    private async Task<ServiceHealth> RunCheckAsync()
    {
        await ProbeAsync();
        await health.WriteStateAsync();
        Publish();
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
            var backend = backends.Find(Name) ?? throw new BackendCheckException($"service '{Name}' is not enabled on this server");
            await backend.CheckAsync(CancellationToken.None);
            var state = health.State;
            state.LatencyMs = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            state.State = ServiceState.Online;
            state.LastError = null;
            state.ConsecutiveFailures = 0;
            activity?.SetTag(Tags.ServiceAvailable, true);
            activity?.AddEvent(new ActivityEvent("check_completed", tags: new() { ["result"] = "available" }));
        }
        catch (BackendCheckException ex)
        {
            var state = health.State;
            if (state.State != ServiceState.Offline)
                logger.LogWarning("Service {Service} is offline: {Reason}", Name, ex.Message);
            state.LatencyMs = null;
            state.State = ServiceState.Offline;
            state.LastError = ex.Message;
            state.ConsecutiveFailures++;
            activity?.SetTag(Tags.ServiceAvailable, false);
            activity?.AddEvent(new ActivityEvent("check_failed", tags: new() { ["error"] = ex.Message }));
            activity.RecordFailure(ex);
        }
        finally
        {
            health.State.LastChecked = time.GetUtcNow();
        }
    }

    private void Publish() => SetServiceAvailable(Name, Snapshot().Available);

    private ServiceHealth Snapshot()
    {
        var s = health.State;
        return new ServiceHealth(Name, s.State, s.LastChecked, s.LastError, s.ConsecutiveFailures, s.LatencyMs);
    }
}
