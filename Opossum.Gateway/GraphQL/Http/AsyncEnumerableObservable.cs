namespace Opossum.Gateway.GraphQL.Http;

/// <summary>
/// An <see cref="IAsyncEnumerable{T}"/> as the <see cref="IObservable{T}"/> GraphQL.NET's subscriptions take:
/// subscribing starts reading it, disposing the subscription stops it (the enumerator is disposed, and with
/// it the grain streams behind). One subscriber, as GraphQL.NET subscribes once per execution.
/// </summary>
public sealed class AsyncEnumerableObservable<T>(IAsyncEnumerable<T> source) : IObservable<T?>
{
    public IDisposable Subscribe(IObserver<T?> observer)
    {
        var subscription = new Subscription();
        _ = PumpAsync(observer, subscription.Token);
        return subscription;
    }

    // Runs on the subscriber's thread until the first item is awaited: no thread-pool hop before the stream is asked for it.
    private async Task PumpAsync(IObserver<T?> observer, CancellationToken cancellationToken)
    {
        try
        {
            await foreach (var item in source.WithCancellation(cancellationToken))
            {
                if (cancellationToken.IsCancellationRequested) return;
                observer.OnNext(item);
            }
        }
        catch (Exception ex)
        {
            if (!cancellationToken.IsCancellationRequested)
                observer.OnError(ex);
            return;
        }
        if (!cancellationToken.IsCancellationRequested)
            observer.OnCompleted();
    }

    private sealed class Subscription : IDisposable
    {
        private readonly CancellationTokenSource _stop = new();

        public CancellationToken Token => _stop.Token;

        public void Dispose() => _stop.Cancel();
    }
}
