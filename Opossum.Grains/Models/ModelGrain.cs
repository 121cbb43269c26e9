using System.Diagnostics;
using Microsoft.Extensions.Options;
using Opossum.Grains.Backends;
using Opossum.Grains.Telemetry;
using Orleans.Concurrency;
using static Opossum.Grains.Telemetry.OpossumTelemetry;

namespace Opossum.Grains.Models;

/// <summary>
/// Generation for one model, on the silo that asks (a stateless worker: no model is a bottleneck, and a
/// silo that dies takes only its own generations with it). It leases a slot on a server of the model's
/// backend from the service grain, which bounds what each server runs at once cluster-wide, calls the
/// server, and gives the slot back with what the call said about the server.
/// </summary>
[StatelessWorker(1), Reentrant]
public sealed class ModelGrain(IOptions<ModelCatalogOptions> catalog, BackendRegistry backends, ILocalSiloDetails silo) : Grain, IModelGrain
{
    private IServiceGrain? _service;

    public async Task<Generation> Generate(GenerationRequest request, CancellationToken cancellationToken = default)
    {
        var model = catalog.Value.Find(this.GetPrimaryKeyString()) ?? throw OpossumException.ModelNotFound(this.GetPrimaryKeyString());
        var service = _service ??= GrainFactory.GetGrain<IServiceGrain>(model.Backend); // a model's backend does not change

        using var activity = Source.StartActivity(Spans.ModelGenerate);
        activity?.SetTag(Tags.PromptLength, request.Messages.Sum(m => m.Content.Length));
        activity?.SetTag(Tags.ModelName, model.Name);
        var started = Stopwatch.GetTimestamp();
        try
        {
            var backend = backends.Find(model.Backend) ?? throw new OpossumException(ErrorCodes.BackendUnavailable,
                $"Backend '{model.Backend}' is disabled on this server{(model.Backend == "gemini" ? " (GEMINI_API_KEY is not set)" : "")}.");
            // A server that fails this request is avoided for its retry on another of the backend's servers.
            List<int>? failed = null;
            OpossumException? lastFailure = null;
            while (true)
            {
                Lease lease;
                try
                {
                    lease = await service.Acquire(model.Name, silo.SiloAddress, failed?.ToArray(), cancellationToken);
                }
                catch (OpossumException) when (lastFailure is { } earlier)
                {
                    throw earlier; // no other server to try: the failure of the last one is the answer
                }
                activity?.SetTag(Tags.SlotWaitSeconds, lease.Waited.TotalSeconds);
                SlotWait.Record(lease.Waited.TotalSeconds, new KeyValuePair<string, object?>(Tags.Service, model.Backend));
                var server = backend.Servers[lease.Server];
                if (backend.Servers.Count > 1)
                    activity?.SetTag(Tags.ServerAddress, server.Url.ToString());

                var outcome = GenerationOutcome.Inconclusive;
                try
                {
                    var generation = await backend.GenerateAsync(server, model, request.Messages, cancellationToken);
                    activity?.SetTag(Tags.ResponseLength, generation.Content.Length);
                    outcome = GenerationOutcome.Success;
                    return generation;
                }
                catch (OpossumException ex) when (ex.ServiceFault && backend.Servers.Count > 1 && !cancellationToken.IsCancellationRequested)
                {
                    outcome = new GenerationOutcome(OutcomeKind.Failed, ex.Message);
                    (failed ??= []).Add(lease.Server);
                    lastFailure = ex;
                }
                catch (OpossumException ex)
                {
                    outcome = ex.RetryAfter is { } retryAfter ? new GenerationOutcome(OutcomeKind.Throttled, ex.Message, retryAfter)
                        : ex.ServiceFault ? new GenerationOutcome(OutcomeKind.Failed, ex.Message)
                        : GenerationOutcome.Inconclusive; // the server refused this one request
                    throw;
                }
                finally
                {
                    service.Release(lease, outcome).Ignore();
                }
            }
        }
        catch (Exception ex)
        {
            activity.RecordFailure(ex);
            throw;
        }
        finally
        {
            activity?.SetTag(Tags.DurationSeconds, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }
}
