using Orleans.Persistence.Redis;
using Orleans.Storage;
using StackExchange.Redis;

namespace Opossum.Grains.Storage;

/// <summary>
/// Grain storage that says so when Redis cannot be reached: its failures become STORAGE_UNAVAILABLE
/// (a typed error a client can act on) instead of an internal error. Everything else passes through.
/// </summary>
public sealed class StorageOutages(IGrainStorage inner) : IGrainStorage, ILifecycleParticipant<ISiloLifecycle>
{
    public Task ReadStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        Guard(inner.ReadStateAsync(stateName, grainId, grainState), "the conversation or answer could not be read");

    public Task WriteStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        Guard(inner.WriteStateAsync(stateName, grainId, grainState), "the answer could not be recorded");

    public Task ClearStateAsync<T>(string stateName, GrainId grainId, IGrainState<T> grainState) =>
        Guard(inner.ClearStateAsync(stateName, grainId, grainState), "the conversation could not be ended");

    public void Participate(ISiloLifecycle lifecycle) => (inner as ILifecycleParticipant<ISiloLifecycle>)?.Participate(lifecycle);

    private static async Task Guard(Task operation, string what)
    {
        try
        {
            await operation;
        }
        catch (Exception ex) when (IsOutage(ex))
        {
            throw OpossumException.StorageUnavailable(what);
        }
    }

    /// <summary>Redis is down or not answering: the connection failed, or a command timed out.</summary>
    public static bool IsOutage(Exception ex) => ex switch
    {
        RedisConnectionException or RedisTimeoutException => true,
        // The Orleans Redis provider wraps every failure in a RedisStorageException that keeps only the message.
        RedisStorageException storage => storage.Message.Contains(nameof(RedisConnectionException), StringComparison.Ordinal)
                                         || storage.Message.Contains(nameof(RedisTimeoutException), StringComparison.Ordinal),
        _ => false,
    };
}

/// <summary>The failure a client should see when a storage call failed.</summary>
public static class StorageFailures
{
    /// <summary>
    /// Orleans wraps a storage provider's exception in an <see cref="OrleansException"/>; the typed failure
    /// inside (STORAGE_UNAVAILABLE) is what the client should get, and what must not be retried as a cluster fault.
    /// </summary>
    public static Exception Unwrap(Exception exception) => Find(exception) ?? exception;

    /// <summary>The <see cref="OpossumException"/> in the chain of <paramref name="exception"/>, if any; a Redis outage becomes one.</summary>
    public static OpossumException? Find(Exception exception)
    {
        for (var ex = exception; ex is not null; ex = ex.InnerException)
        {
            if (ex is OpossumException known) return known;
            if (StorageOutages.IsOutage(ex)) return OpossumException.StorageUnavailable("the request could not be served");
        }
        return null;
    }
}
