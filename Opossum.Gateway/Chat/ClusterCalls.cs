using System.Diagnostics;
using Opossum.Grains.Storage;

namespace Opossum.Gateway.Chat;

/// <summary>
/// Retries a call that the cluster failed for a reason of its own (a silo died or is stopping, a grain
/// is moving): such a failure says nothing about the request, and another silo answers a moment later.
/// Only for calls that are safe to repeat: reads, and chats, which carry a request id that the
/// conversation recognises. Retries stop <see cref="RetryFor"/> after the first failure.
/// </summary>
public sealed class ClusterCalls(ILogger<ClusterCalls> logger)
{
    /// <summary>How long after a call's first cluster failure it is tried again; detection of a dead silo takes ~3 s.</summary>
    public static readonly TimeSpan RetryFor = TimeSpan.FromSeconds(5);

    public async Task<T> RunAsync<T>(Func<int, Task<T>> call, CancellationToken cancellationToken)
    {
        long failedAt = 0;
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                return await call(attempt);
            }
            // A failure of the request itself (or of storage) inside the cluster's exception is not the cluster's: no retry.
            catch (OrleansException ex) when (StorageFailures.Find(ex) is null && !cancellationToken.IsCancellationRequested && WithinWindow(ref failedAt))
            {
                var delay = Backoff(attempt);
                logger.LogInformation("Cluster call failed ({Reason}); attempt {Attempt} in {Delay} ms", ex.GetType().Name, attempt + 1, delay.TotalMilliseconds);
                await Task.Delay(delay, cancellationToken);
            }
        }
    }

    private static bool WithinWindow(ref long failedAt)
    {
        if (failedAt == 0) failedAt = Stopwatch.GetTimestamp();
        return Stopwatch.GetElapsedTime(failedAt) < RetryFor;
    }

    // 50, 100, 200, 400 ms, then every 500 ms: the first retries catch a grain that moved, the later ones a silo being declared dead.
    private static TimeSpan Backoff(int attempt) => TimeSpan.FromMilliseconds(Math.Min(500, 50 << Math.Min(attempt - 1, 4)));
}
