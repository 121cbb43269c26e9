using System.Buffers;
using System.Diagnostics;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;
using System.Threading.Channels;

namespace Opossum.Grains.Backends;

/// <summary>
/// The lines of a streamed response in batches: the first as soon as it is there, then at most one batch per
/// <see cref="Interval"/>, holding every line that arrived meanwhile. Each batch travels on as one chunk (one grain
/// message, one event to the client): a model writing 50 tokens a second makes 20 chunks a second, not 50, which
/// a reader does not see and the gateway does not pay for. A stream that ends sends what it holds at once.
/// </summary>
public static class LineBatches
{
    /// <summary>The shortest time between two batches after the first.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromMilliseconds(50);

    public static IAsyncEnumerable<List<string>> ReadAsync(Stream stream, CancellationToken cancellationToken) =>
        ReadAsync(stream, Interval, cancellationToken);

    public static async IAsyncEnumerable<List<string>> ReadAsync(Stream stream, TimeSpan interval, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        // The stream is read as fast as it comes (a read of an HTTP response must not be cancelled to end a wait:
        // that aborts the connection); the batches are cut from what has been read.
        var lines = Channel.CreateUnbounded<string>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var reading = ReadLinesAsync(stream, lines.Writer, stop.Token);
        try
        {
            long? sent = null; // when the last batch went out
            while (await MoreAsync(lines.Reader, cancellationToken))
            {
                if (sent is { } last && interval - Stopwatch.GetElapsedTime(last) is var left && left > TimeSpan.Zero)
                    await Task.WhenAny(Task.Delay(left, cancellationToken), lines.Reader.Completion);
                cancellationToken.ThrowIfCancellationRequested();
                var batch = new List<string>();
                while (lines.Reader.TryRead(out var line))
                    batch.Add(line);
                sent = Stopwatch.GetTimestamp();
                yield return batch;
            }
            await lines.Reader.Completion; // the reading's failure, if it failed
        }
        finally
        {
            stop.Cancel();
            await reading;
        }
    }

    // A failed read ends the stream with its own exception, as a read of the stream itself would.
    private static async ValueTask<bool> MoreAsync(ChannelReader<string> lines, CancellationToken cancellationToken)
    {
        try
        {
            return await lines.WaitToReadAsync(cancellationToken);
        }
        catch (ChannelClosedException closed) when (closed.InnerException is { } inner)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(inner);
            throw;
        }
    }

    // Whole lines only: a last line without its newline is not one (the stream was cut, which the caller tells from what it got).
    private static async Task ReadLinesAsync(Stream stream, ChannelWriter<string> lines, CancellationToken cancellationToken)
    {
        var reader = PipeReader.Create(stream);
        Exception? failure = null;
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(cancellationToken);
                var buffer = result.Buffer;
                while (buffer.PositionOf((byte)'\n') is { } end)
                {
                    lines.TryWrite(Encoding.UTF8.GetString(buffer.Slice(0, end)).TrimEnd('\r'));
                    buffer = buffer.Slice(buffer.GetPosition(1, end));
                }
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (result.IsCompleted) break;
            }
        }
        catch (Exception ex)
        {
            failure = ex;
        }
        finally
        {
            lines.TryComplete(failure);
            await reader.CompleteAsync();
        }
    }
}
