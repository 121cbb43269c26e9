using System.Buffers;
using System.IO.Pipelines;
using System.Runtime.CompilerServices;
using System.Text;

namespace Opossum.Grains.Backends;

/// <summary>
/// The lines of a streamed response, a batch per read: the lines that arrived together. A backend that
/// writes faster than it is read gives several lines at once, and they travel on as one piece (one grain
/// message, one event to the client) instead of one each; a backend that writes slowly gives a line at a time.
/// </summary>
public static class LineBatches
{
    public static async IAsyncEnumerable<List<string>> ReadAsync(Stream stream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var reader = PipeReader.Create(stream);
        try
        {
            while (true)
            {
                var result = await reader.ReadAsync(cancellationToken);
                var buffer = result.Buffer;
                var lines = new List<string>();
                while (buffer.PositionOf((byte)'\n') is { } end)
                {
                    var line = buffer.Slice(0, end);
                    lines.Add(Encoding.UTF8.GetString(line).TrimEnd('\r'));
                    buffer = buffer.Slice(buffer.GetPosition(1, end));
                }
                reader.AdvanceTo(buffer.Start, buffer.End);
                if (lines.Count > 0)
                    yield return lines;
                if (result.IsCompleted)
                    yield break; // a last line without its newline is not a whole line: the stream was cut
            }
        }
        finally
        {
            await reader.CompleteAsync();
        }
    }
}
