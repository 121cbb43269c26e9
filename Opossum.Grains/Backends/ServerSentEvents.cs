using System.Runtime.CompilerServices;
using System.Text;

namespace Opossum.Grains.Backends;

/// <summary>Reads a <c>text/event-stream</c> (https://html.spec.whatwg.org/multipage/server-sent-events.html): the data of each event.</summary>
public static class ServerSentEvents
{
    public static async IAsyncEnumerable<string> ReadDataAsync(TextReader lines, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var data = new StringBuilder();
        var hasData = false;
        while (await lines.ReadLineAsync(cancellationToken) is { } line)
        {
            if (line.Length == 0)
            {
                if (hasData)
                    yield return data.ToString();
                data.Clear();
                hasData = false;
                continue;
            }
            if (line[0] == ':') continue; // a comment (keep-alive)
            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            if (field != "data") continue; // event, id, retry: not used by the APIs read here
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' ')) value = value[1..];
            if (hasData) data.Append('\n');
            data.Append(value);
            hasData = true;
        }
        // Data not ended by a blank line is discarded, as the specification says: the stream was cut inside an event.
    }
}
