using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Opossum.Grains.Backends;
using Opossum.Grains.Telemetry;
using Orleans.Concurrency;
using static Opossum.Grains.Telemetry.OpossumTelemetry;

namespace Opossum.Grains.Models;

/// <summary>
/// Generation for one model. Reentrant so a slow generation never blocks the others; a semaphore
/// bounds how many run at once against the backend. Asks the service grain before sending (an
/// open circuit refuses at once) unless it holds a standing admission (the service is healthy and
/// revokes the admission when it no longer is), and reports the outcomes that matter to it.
/// </summary>
[Reentrant]
public sealed class ModelGrain(
    IOptions<ModelCatalogOptions> catalog,
    IOptions<ModelGrainOptions> options,
    BackendRegistry backends,
    [FromKeyedServices(ProviderNames.Clock)] TimeProvider time) : Grain, IModelGrain
{
    private readonly SemaphoreSlim _slots = new(options.Value.MaxConcurrency, options.Value.MaxConcurrency);
    private long _requests;
    private long _errors;
    private int _inFlight;
    private double? _lastLatencyMs;
    private double _totalLatencyMs;
    private DateTimeOffset _standingUntil = DateTimeOffset.MinValue;
    private int _revocations;
    private IServiceGrain? _service;

    public async Task<Generation> Generate(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        var model = catalog.Value.Find(this.GetPrimaryKeyString()) ?? throw OpossumException.ModelNotFound(this.GetPrimaryKeyString());
        var service = _service ??= GrainFactory.GetGrain<IServiceGrain>(model.Backend); // a model's backend does not change

        using var activity = Source.StartActivity(Spans.ModelGenerate);
        activity?.SetTag(Tags.PromptLength, request.Messages.Sum(m => m.Content.Length));
        activity?.SetTag(Tags.ModelName, model.Name);

        var started = Stopwatch.GetTimestamp();
        _requests++;
        try
        {
            var backend = backends.Find(model.Backend) ?? throw new OpossumException(ErrorCodes.BackendUnavailable,
                $"Backend '{model.Backend}' is disabled on this server{(model.Backend == "gemini" ? " (GEMINI_API_KEY is not set)" : "")}.");
            var admission = time.GetUtcNow() < _standingUntil ? Standing : await AdmitAsync(service);
            if (!admission.Allowed)
                throw await CircuitOpenAsync(service);

            await _slots.WaitAsync(cancellationToken);
            _inFlight++;
            try
            {
                var generation = await backend.GenerateAsync(model, request.Messages, cancellationToken);
                activity?.SetTag(Tags.ResponseLength, generation.Content.Length);
                // Only a success that resets something is worth a message to the service.
                if (admission.CountingFailures)
                    service.ReportSuccess().Ignore();
                return generation;
            }
            catch (OpossumException ex) when (ex.ServiceFault)
            {
                StopTrusting(); // the service is about to count failures: ask it again
                service.ReportFailure(ex.Message).Ignore();
                throw;
            }
            finally
            {
                _inFlight--;
                _slots.Release();
                var elapsed = Stopwatch.GetElapsedTime(started);
                _lastLatencyMs = elapsed.TotalMilliseconds;
                _totalLatencyMs += elapsed.TotalMilliseconds;
            }
        }
        catch (Exception ex)
        {
            _errors++;
            activity.RecordFailure(ex);
            throw;
        }
        finally
        {
            activity?.SetTag(Tags.DurationSeconds, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    public Task<ModelStats> GetStats() => Task.FromResult(new ModelStats(
        this.GetPrimaryKeyString(), _requests, _errors, _inFlight, _lastLatencyMs,
        _requests == 0 ? null : _totalLatencyMs / _requests));

    public Task RevokeAdmission()
    {
        StopTrusting();
        return Task.CompletedTask;
    }

    private void StopTrusting()
    {
        _standingUntil = DateTimeOffset.MinValue;
        _revocations++;
    }

    private static readonly Admission Standing = new(true, CountingFailures: false);

    private async Task<Admission> AdmitAsync(IServiceGrain service)
    {
        var requested = time.GetUtcNow();
        var revocations = _revocations;
        var admission = await service.Admit(this.GetPrimaryKeyString());
        // A revocation (or a failure seen here) that overtook this answer wins: the admission no longer stands.
        if (admission.StandsFor is { } standsFor && revocations == _revocations)
            _standingUntil = requested + standsFor;
        return admission;
    }

    private static async Task<OpossumException> CircuitOpenAsync(IServiceGrain service)
    {
        var health = await service.GetHealth();
        return new OpossumException(ErrorCodes.BackendUnavailable,
            $"Backend '{health.Name}' is OFFLINE (circuit open after {health.ConsecutiveFailures} consecutive failures; last error: {health.LastError}).");
    }
}
