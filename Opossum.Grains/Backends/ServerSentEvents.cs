using System.Text;

namespace Opossum.Grains.Backends;

/// <summary>
/// Reads a <c>text/event-stream</c> (https://html.spec.whatwg.org/multipage/server-sent-events.html) line by
/// line as it arrives: the data of each event, once the blank line that ends it is there.
/// </summary>
public sealed class ServerSentEvents
{
    private readonly StringBuilder _data = new();
    private bool _hasData;

    public IEnumerable<string> Read(IEnumerable<string> lines)
    {
        foreach (var line in lines)
        {
            if (line.Length == 0)
            {
                if (_hasData)
                    yield return _data.ToString();
                _data.Clear();
                _hasData = false;
                continue;
            }
            if (line[0] == ':') continue; // a comment (keep-alive)
            var colon = line.IndexOf(':');
            var field = colon < 0 ? line : line[..colon];
            if (field != "data") continue; // event, id, retry: not used by the APIs read here
            var value = colon < 0 ? "" : line[(colon + 1)..];
            if (value.StartsWith(' ')) value = value[1..];
            if (_hasData) _data.Append('\n');
            _data.Append(value);
            _hasData = true;
        }
        // Data not ended by a blank line waits for the next lines; at the end of the stream it is discarded, as the specification says.
    }
}
