using System.Runtime.CompilerServices;
using System.Runtime.ExceptionServices;
using Opossum.Grains.Backends;

namespace Opossum.Grains.Caching;

/// <summary>
/// One generation that every caller asking for the same answer meanwhile shares. Its chunks are kept as
/// they arrive, so a caller that joins late reads them from the first; the generation is stopped when
/// its last reader leaves. Lives in one grain activation and is used only from its turns, so it needs no locks.
/// </summary>
public sealed class SharedGeneration
{
    private readonly List<GenerationChunk> _chunks = [];
    private readonly CancellationTokenSource _stop = new();
    private TaskCompletionSource _changed = NewSignal();
    private ExceptionDispatchInfo? _failure;
    private bool _ended;
    private int _readers;

    /// <summary>Starts reading <paramref name="source"/>; <paramref name="completed"/> runs with the whole generation before any reader sees its last chunk.</summary>
    public SharedGeneration(Func<CancellationToken, IAsyncEnumerable<GenerationChunk>> source, Action<Generation> completed) =>
        Completion = PumpAsync(source, completed);

    /// <summary>Ends when the generation does, whichever way; never faults.</summary>
    public Task Completion { get; }

    /// <summary>No reader is left and the generation is being stopped: a new caller must start another.</summary>
    public bool Abandoned => _stop.IsCancellationRequested;

    /// <summary>The caller that started it left before the end: what was generated after that was generated for those who joined.</summary>
    public bool LeftByItsStarter { get; private set; }

    /// <summary>
    /// Every chunk from the first, as it arrives; leaving early (cancelling or disposing) stops the generation when no other
    /// reader is left. <paramref name="startedIt"/>: the reader is the caller the generation was started for.
    /// </summary>
    public async IAsyncEnumerable<GenerationChunk> ReadAsync(bool startedIt, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        _readers++;
        try
        {
            var next = 0;
            while (true)
            {
                while (next < _chunks.Count)
                    yield return _chunks[next++];
                if (_ended)
                {
                    _failure?.Throw();
                    yield break;
                }
                await _changed.Task.WaitAsync(cancellationToken);
            }
        }
        finally
        {
            // A reader that leaves once it has the last chunk leaves nothing to stop.
            var unfinished = !_ended && _chunks is not [.., { Completed: not null }];
            if (startedIt && unfinished)
                LeftByItsStarter = true;
            if (--_readers == 0 && unfinished)
                _stop.Cancel();
        }
    }

    private async Task PumpAsync(Func<CancellationToken, IAsyncEnumerable<GenerationChunk>> source, Action<Generation> completed)
    {
        await Task.Yield(); // the constructor returns before the first chunk is asked for
        try
        {
            await foreach (var chunk in source(_stop.Token).WithCancellation(_stop.Token))
            {
                if (chunk.Completed is { } generation)
                    completed(generation);
                _chunks.Add(chunk);
                Signal();
            }
            if (_chunks.Count == 0 || _chunks[^1].Completed is null)
                throw BackendFailures.Unfinished();
        }
        catch (Exception ex)
        {
            _failure = ExceptionDispatchInfo.Capture(ex);
        }
        finally
        {
            _ended = true;
            Signal();
        }
    }

    private void Signal()
    {
        var changed = _changed;
        _changed = NewSignal();
        changed.TrySetResult();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);
}
