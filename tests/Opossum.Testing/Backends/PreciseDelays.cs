using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Opossum.Testing.Backends;

/// <summary>
/// Delays of one length, accurate to a fraction of a millisecond. Task.Delay rides the runtime's timer
/// queue, which fires milliseconds late, and Monitor.Wait takes whole milliseconds; a backend's latency
/// must be the configured one, or the gateway would be charged for the timer's lateness. Every delay has
/// the same length, so deadlines arrive in order: one thread sleeps (usleep) until the oldest is due. Its
/// timer slack is 1 ns instead of Linux's default 50 µs, and it runs the continuation itself (the answer
/// is sent from it) rather than waking a thread-pool thread to do so: what the backend adds beyond its
/// latency is charged to every miss, and is not the gateway's overhead.
/// </summary>
internal sealed partial class PreciseDelays : IDisposable
{
    private const int PrSetTimerSlack = 29;

    private readonly long _length;
    private readonly ConcurrentQueue<(long At, TaskCompletionSource Done)> _due = new();
    private readonly SemaphoreSlim _queued = new(0);
    private readonly CancellationTokenSource _stop = new();

    public PreciseDelays(TimeSpan length)
    {
        _length = (long)(length.TotalSeconds * Stopwatch.Frequency);
        new Thread(Run) { IsBackground = true, Name = "backend delays" }.Start();
    }

    public Task WaitAsync()
    {
        var done = new TaskCompletionSource();
        _due.Enqueue((Stopwatch.GetTimestamp() + _length, done));
        _queued.Release();
        return done.Task;
    }

    private void Run()
    {
        if (OperatingSystem.IsLinux())
            prctl(PrSetTimerSlack, 1);
        while (true)
        {
            try
            {
                _queued.Wait(_stop.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            _due.TryDequeue(out var next);
            var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), next.At);
            if (remaining > TimeSpan.Zero)
                Sleep(remaining);
            next.Done.TrySetResult();
        }
    }

    private static void Sleep(TimeSpan time)
    {
        if (OperatingSystem.IsLinux())
            usleep((uint)Math.Ceiling(time.TotalMicroseconds));
        else
            Thread.Sleep((int)Math.Ceiling(time.TotalMilliseconds));
    }

    /// <summary>Ends the thread; call once the server has answered everything it was asked.</summary>
    public void Dispose() => _stop.Cancel();

    [LibraryImport("libc")]
    private static partial int usleep(uint microseconds);

    [LibraryImport("libc")]
    private static partial int prctl(int option, nuint value);
}
