using System.Buffers;
using GraphQL;

namespace Opossum.Gateway.GraphQL.Http;

/// <summary>
/// Writes server-sent events (https://html.spec.whatwg.org/multipage/server-sent-events.html) as graphql-sse
/// prints them: <c>event: next</c> with an execution result as <c>data</c>, <c>event: complete</c> with empty
/// data. A comment goes out at once, so the client sees the stream open, and every 12 s while nothing else
/// does, so proxies do not close an idle stream (a generation may wait for a free server that long).
/// </summary>
public sealed class EventStreamWriter(HttpResponse response, GraphQLResponseSerializer serializer) : IAsyncDisposable
{
    public static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(12);

    private static readonly byte[] Comment = ":\n\n"u8.ToArray();
    private readonly SemaphoreSlim _writing = new(1, 1);
    // Disposed to stop the keep-alive: its wait then ends without an exception, as every stream's end would otherwise throw one.
    private readonly PeriodicTimer _ticks = new(KeepAlive / 4);
    private Task _keepAlive = Task.CompletedTask;
    private long _lastWrite;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        await WriteRawAsync(Comment, cancellationToken);
        _keepAlive = KeepAliveAsync(cancellationToken);
    }

    public async Task WriteAsync(string eventName, ExecutionResult? data, CancellationToken cancellationToken)
    {
        using var body = new PooledBufferWriter(512);
        body.Write(System.Text.Encoding.UTF8.GetBytes($"event: {eventName}\ndata:"));
        if (data is not null)
        {
            body.Write(" "u8);
            serializer.Write(body, data); // JSON without raw newlines: one data line
        }
        body.Write("\n\n"u8);
        await WriteRawAsync(body.WrittenMemory, cancellationToken);
    }

    private async Task WriteRawAsync(ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        await _writing.WaitAsync(cancellationToken);
        try
        {
            await response.Body.WriteAsync(bytes, cancellationToken);
            await response.Body.FlushAsync(cancellationToken);
            _lastWrite = Environment.TickCount64;
        }
        finally
        {
            _writing.Release();
        }
    }

    private async Task KeepAliveAsync(CancellationToken cancellationToken)
    {
        try
        {
            while (await _ticks.WaitForNextTickAsync(CancellationToken.None))
            {
                if (Environment.TickCount64 - _lastWrite >= KeepAlive.TotalMilliseconds)
                    await WriteRawAsync(Comment, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The stream ended, or the client went away.
        }
    }

    public async ValueTask DisposeAsync()
    {
        _ticks.Dispose();
        await _keepAlive;
    }
}
