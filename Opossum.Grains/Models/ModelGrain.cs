using System.Diagnostics;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using Opossum.Grains.Backends;
using Opossum.Grains.Output;
using Opossum.Grains.Telemetry;
using Orleans.Concurrency;
using static Opossum.Grains.Telemetry.OpossumTelemetry;

namespace Opossum.Grains.Models;

/// <summary>
/// Generation for one model, on the silo that asks (a stateless worker: no model is a bottleneck, and a
/// silo that dies takes only its own generations with it). It takes a slot on a server of the model's
/// backend from the service grain, which bounds what each server runs at once cluster-wide, streams the
/// answer from the server, and gives the slot back with what the call said about the server. A server
/// that fails before the first chunk of the answer is avoided for a retry on another of the backend's servers.
/// A checked request's answer (<see cref="GenerationOptions.IsChecked"/>) is asked for whole and given out only once it
/// conforms, so that one that does not can still fall back to another model.
/// </summary>
[StatelessWorker(1), Reentrant]
public sealed class ModelGrain(IOptions<ModelCatalogOptions> catalog, BackendRegistry backends, ILocalSiloDetails silo) : Grain, IModelGrain
{
    private IServiceGrain? _service;

    // Nobody reads the reader of an answer asked for whole: the server is asked for it whole, which costs less.
    public Task<Generation> Generate(GenerationRequest request, CancellationToken cancellationToken = default) =>
        BackendCall.CollectAsync(RunAsync(request, stream: false, cancellationToken));

    public IAsyncEnumerable<GenerationChunk> Stream(GenerationRequest request, CancellationToken cancellationToken = default) =>
        RunAsync(request, stream: true, cancellationToken);

    private async IAsyncEnumerable<GenerationChunk> RunAsync(GenerationRequest request, bool stream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var model = catalog.Value.Find(this.GetPrimaryKeyString()) ?? throw OpossumException.ModelNotFound(this.GetPrimaryKeyString());
        var service = _service ??= GrainFactory.GetGrain<IServiceGrain>(model.Backend); // a model's backend does not change

        var check = AnswerCheck.For(request.Options);
        stream &= check is null;
        var firstCallOnly = request.Options?.ParallelToolCalls == false;
        var callsGiven = 0;

        using var activity = Source.StartActivity(Spans.ModelGenerate);
        activity?.SetTag(Tags.PromptLength, request.Messages.Sum(m => m.Content.Length));
        activity?.SetTag(Tags.ModelName, model.Name);
        activity?.SetTag(Tags.GenAiRequestStream, stream);
        var started = Stopwatch.GetTimestamp();
        var chunks = 0;
        var length = 0;
        try
        {
            var backend = backends.Find(model.Backend);
            if (backend is null)
            {
                var disabled = BackendRegistry.Disabled(model.Backend);
                activity.RecordFailure(disabled);
                throw disabled;
            }

            List<int>? failed = null;
            OpossumException? lastFailure = null;
            while (true)
            {
                Slot slot;
                var ticket = Guid.NewGuid();
                try
                {
                    slot = await service.Acquire(model.Name, silo.SiloAddress, failed?.ToArray(), ticket, cancellationToken);
                }
                catch (Exception ex)
                {
                    // A call the cluster failed (its silo died after passing it on to the grain's next activation) may still be granted there: it is given up.
                    if (ex is not OpossumException)
                        service.Abandon(ticket).Ignore();
                    // No other server to try: the failure of the last one is the answer.
                    var failure = ex is OpossumException && lastFailure is { } earlier ? earlier : ex;
                    activity.RecordFailure(failure);
                    if (failure == ex) throw;
                    throw failure;
                }
                activity?.SetTag(Tags.SlotWaitSeconds, slot.Waited.TotalSeconds);
                SlotWait.Record(slot.Waited.TotalSeconds, new KeyValuePair<string, object?>(Tags.Service, model.Backend));
                var server = backend.Servers[slot.Server];
                if (backend.Servers.Count > 1)
                    activity?.SetTag(Tags.ServerAddress, server.Url.ToString());

                var outcome = GenerationOutcome.Inconclusive;
                var retry = false;
                try
                {
                    await using var reader = backend.GenerateAsync(server, model, request, stream, cancellationToken).GetAsyncEnumerator(cancellationToken);
                    while (true)
                    {
                        GenerationChunk chunk;
                        try
                        {
                            if (!await reader.MoveNextAsync()) break;
                            chunk = reader.Current;
                        }
                        catch (OpossumException ex) when (ex.ServiceFault && chunks == 0 && backend.Servers.Count > 1 && !cancellationToken.IsCancellationRequested)
                        {
                            outcome = new GenerationOutcome(OutcomeKind.Failed, ex.Message);
                            (failed ??= []).Add(slot.Server);
                            lastFailure = ex;
                            retry = true;
                            break;
                        }
                        catch (OpossumException ex)
                        {
                            outcome = ex.RetryAfter is { } retryAfter ? new GenerationOutcome(OutcomeKind.Throttled, ex.Message, retryAfter)
                                : ex.ServiceFault ? new GenerationOutcome(OutcomeKind.Failed, ex.Message)
                                : GenerationOutcome.Inconclusive; // the server refused this one request
                            activity.RecordFailure(ex);
                            throw;
                        }
                        catch (Exception ex)
                        {
                            activity.RecordFailure(ex);
                            throw;
                        }

                        if (chunks++ == 0 && stream)
                            activity?.SetTag(Tags.GenAiTimeToFirstChunk, Stopwatch.GetElapsedTime(started).TotalSeconds);
                        length += chunk.Delta.Length;
                        if (firstCallOnly && chunk.ToolCalls is { Count: > 0 } calls)
                        {
                            // parallel_tool_calls false: the first call of the answer is given out, never a second.
                            chunk = chunk with { ToolCalls = callsGiven == 0 ? calls.Take(1).ToList() : null };
                            callsGiven++;
                        }
                        if (chunk.Completed is { } completed)
                        {
                            // The server answered, whatever the check then says of the answer.
                            outcome = GenerationOutcome.Success;
                            if (firstCallOnly && completed.ToolCalls is { Count: > 1 } all)
                                completed = completed with { ToolCalls = all.Take(1).ToList() };
                            completed = completed with { Duration = Stopwatch.GetElapsedTime(started) };
                            Describe(activity, completed);
                            if (check?.Problems(completed) is { } problems)
                                throw OffSchema(activity, model, problems);
                            chunk = chunk with { Completed = completed };
                        }
                        yield return chunk;
                    }
                }
                finally
                {
                    // Also when the caller leaves mid-answer: the slot is free again, and the outcome says nothing of the server.
                    service.Release(slot, outcome).Ignore();
                }
                if (!retry)
                    yield break;
            }
        }
        finally
        {
            activity?.SetTag(Tags.ResponseLength, length);
            activity?.SetTag(Tags.ResponseChunks, chunks);
            activity?.SetTag(Tags.DurationSeconds, Stopwatch.GetElapsedTime(started).TotalSeconds);
        }
    }

    private static void Describe(Activity? activity, Generation generation)
    {
        if (activity is null) return;
        if (generation.FinishReason is { } reason)
            activity.SetTag(Tags.GenAiResponseFinishReasons, new[] { reason });
        activity.SetTag(Tags.ResponseToolCalls, generation.ToolCalls?.Count ?? 0);
    }

    // The span says where the answer failed, never what it held: the caller's error has the words.
    private static OpossumException OffSchema(Activity? activity, ModelDefinition model, AnswerProblems problems)
    {
        activity?.AddEvent(new ActivityEvent(Events.OutputCheckFailed, tags: new()
        {
            [Tags.ErrorType] = ErrorCodes.InvalidModelOutput,
            [Tags.OutputFailedPaths] = problems.Paths.ToArray(),
        }));
        activity?.SetStatus(ActivityStatusCode.Error, "The answer does not match the caller's schema.");
        return new OpossumException(ErrorCodes.InvalidModelOutput, $"{model.Name} ({model.Backend}) answered off the schema: {problems.Words}");
    }
}
