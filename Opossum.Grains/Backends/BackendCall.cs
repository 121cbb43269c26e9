using System.Runtime.CompilerServices;

namespace Opossum.Grains.Backends;

/// <summary>The shape every backend call shares: a deadline, and every failure typed and recorded on the span.</summary>
public static class BackendCall
{
    /// <summary>
    /// Streams <paramref name="call"/> with the backend's timeout over the whole answer. The caller's
    /// cancellation passes through untouched (the client went away: not a backend failure, no fallback);
    /// anything else unexpected, before the first chunk or after, becomes the failure <paramref name="toFailure"/> makes of it.
    /// </summary>
    public static async IAsyncEnumerable<GenerationChunk> StreamAsync(BackendSpan span, TimeSpan timeout,
        Func<CancellationToken, IAsyncEnumerable<GenerationChunk>> call, Func<Exception, OpossumException> toFailure,
        [EnumeratorCancellation] CancellationToken caller = default)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(caller);
        deadline.CancelAfter(timeout);
        await using var chunks = call(deadline.Token).GetAsyncEnumerator(deadline.Token);
        while (true)
        {
            GenerationChunk chunk;
            try
            {
                if (!await chunks.MoveNextAsync())
                    break;
                chunk = chunks.Current;
            }
            catch (OperationCanceledException ex) when (caller.IsCancellationRequested)
            {
                span.Failed(ex);
                throw;
            }
            catch (OpossumException ex)
            {
                span.Failed(ex);
                throw;
            }
            catch (Exception ex)
            {
                var failure = toFailure(ex);
                span.Failed(failure);
                throw failure;
            }
            span.Received(chunk);
            yield return chunk;
        }
    }

    /// <summary>The whole generation of a stream: its last chunk's.</summary>
    public static async Task<Generation> CollectAsync(IAsyncEnumerable<GenerationChunk> chunks)
    {
        await foreach (var chunk in chunks)
        {
            if (chunk.Completed is { } generation)
                return generation;
        }
        throw BackendFailures.Unfinished();
    }
}
