using Orleans.Concurrency;
using System.Diagnostics;
using Microsoft.Extensions.Options;
using Opossum.Grains.Backends;
using Opossum.Grains.Telemetry;
using static Opossum.Grains.Telemetry.OpossumTelemetry;

namespace Opossum.Grains.Models;

/// <summary>
/// Generation for one model. Reentrant so a slow generation never blocks the others; a semaphore
/// bounds how many run at once against the backend.
/// </summary>
[Reentrant]
public sealed class ModelGrain(
    IOptions<ModelCatalogOptions> catalog,
    IOptions<ModelGrainOptions> options,
    BackendRegistry backends) : Grain, IModelGrain
{
    private readonly SemaphoreSlim _slots = new(options.Value.MaxConcurrency, options.Value.MaxConcurrency);
    private long _requests;
    private long _errors;
    private int _inFlight;
    private double? _lastLatencyMs;
    private double _totalLatencyMs;

    public async Task<Generation> Generate(GenerationRequest request)
    {
        var model = catalog.Value.Find(this.GetPrimaryKeyString()) ?? throw OpossumException.ModelNotFound(this.GetPrimaryKeyString());
        var backend = backends.Find(model.Backend)
            ?? throw new OpossumException(ErrorCodes.BackendUnavailable, $"Backend '{model.Backend}' of model '{model.Name}' is not enabled on this server.");

        using var activity = Source.StartActivity(Spans.ModelGenerate);
        activity?.SetTag(Tags.PromptLength, request.Messages.Sum(m => m.Content.Length));
        activity?.SetTag(Tags.ModelName, model.Name);

        var started = Stopwatch.GetTimestamp();
        await _slots.WaitAsync();
        _inFlight++;
        _requests++;
        try
        {
            var generation = await backend.GenerateAsync(model, request.Messages, CancellationToken.None);
            activity?.SetTag(Tags.ResponseLength, generation.Content.Length);
            return generation;
        }
        catch (Exception ex)
        {
            _errors++;
            activity.RecordFailure(ex);
            throw;
        }
        finally
        {
            _inFlight--;
            _slots.Release();
            var elapsed = Stopwatch.GetElapsedTime(started);
            _lastLatencyMs = elapsed.TotalMilliseconds;
            _totalLatencyMs += elapsed.TotalMilliseconds;
            activity?.SetTag(Tags.DurationSeconds, elapsed.TotalSeconds);
        }
    }

    public Task<ModelStats> GetStats() => Task.FromResult(new ModelStats(
        this.GetPrimaryKeyString(), _requests, _errors, _inFlight, _lastLatencyMs,
        _requests == 0 ? null : _totalLatencyMs / _requests));
}
